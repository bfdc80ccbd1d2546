"""The one progress event type shared by renders, generation jobs, the CLI, Blender and the server.

Long work reports ``Progress(phase, step, total, message)`` through a plain callback and checks
a ``threading.Event`` between steps to stop early. Keeping both plain values means the same
function runs in a Blender worker thread, a server job or a terminal without knowing which.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal, get_args

from .errors import Cancelled

# Every phase long work goes through, in the order a full job meets them: pose renders use
# render/encode/write, extraction extract/write, generation load/encode/denoise/decode/write;
# getting model files (``scail models get``) reports download in MB.
Phase = Literal["download", "load", "extract", "render", "encode", "denoise", "decode", "write", "done"]
PHASES: tuple[str, ...] = get_args(Phase)


@dataclass(frozen=True)
class Progress:
    phase: Phase
    step: int
    total: int
    message: str = ""

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"unknown progress phase {self.phase!r}; add it to progress.PHASES")

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0

    def to_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """Default callback for callers that do not show progress."""


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise Cancelled when the user asked to stop; called between steps of long work."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("Cancelled by the user; nothing was written")
