"""What a job reports: its state, its last progress event, its error or result, as one snapshot.

``JobStatus`` is what the runner gives listeners, the server stores and streams, and clients
read back, so it is plain data (``to_dict``/``from_dict``) and imports neither torch nor the
runner. ``JobError`` carries a stable code with the message, from which a client raises the same
typed error the runner saw.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from ..errors import ERROR_CLASSES, ScailError
from ..progress import Phase, Progress
from .contract import ExtractResult, JobResult, result_from_dict

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATES: tuple[str, ...] = get_args(State)
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})

# How a full disk shows in the text of a tool's error (ffmpeg prints the C library's message).
NO_SPACE_TEXT = os.strerror(errno.ENOSPC)


@dataclass(frozen=True, kw_only=True)
class JobError:
    code: str  # stable: the class's ``code`` from scail_blender.errors, or "internal"
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> JobError:
        if out_of_space(exc):  # whatever tool hit it: the cause is the disk, not the inputs
            lines = str(exc).splitlines() or [type(exc).__name__]
            detail = next((line for line in lines if NO_SPACE_TEXT in line), lines[0])
            return cls(code="no_space", message=f"the disk filled up while the job ran ({detail}); free space on "
                       "the disk the job writes to (a server's --data-dir) and run the job again")
        if isinstance(exc, ScailError):
            return cls(code=exc.code, message=str(exc))
        return cls(code="internal", message=f"internal error ({type(exc).__name__}: {exc}); see the log")

    def exception(self) -> ScailError:
        """The typed error this stands for (ScailError for codes without a class)."""
        return ERROR_CLASSES.get(self.code, ScailError)(self.message)


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    """One snapshot of a job: what listeners get, the server stores and serves, clients read."""

    id: str
    state: State = "queued"
    # The last progress event of the pipeline (phase None until the job starts).
    phase: Phase | None = None
    step: int = 0
    total: int = 0
    message: str = ""
    progress: float = 0.0  # fraction of the whole job, 0..1, never going back
    eta_seconds: float | None = None  # None while unknown (before two denoising or extraction steps)
    error: JobError | None = None
    result: JobResult | ExtractResult | None = None
    created: float = 0.0  # Unix times
    started: float | None = None
    finished: float | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def event(self) -> Progress | None:
        return None if self.phase is None else Progress(self.phase, self.step, self.total, self.message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobStatus:
        fields = dict(data)
        if fields.get("error") is not None:
            fields["error"] = JobError(**fields["error"])
        if fields.get("result") is not None:
            fields["result"] = result_from_dict(fields["result"])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in fields.items() if k in known})


def out_of_space(exc: BaseException) -> bool:
    """True when ``exc`` or an error it came from is a full disk (ENOSPC, EDQUOT) or reports one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if NO_SPACE_TEXT in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


Listener = Callable[[JobStatus], None]
