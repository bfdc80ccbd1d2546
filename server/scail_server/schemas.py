"""The request and response shapes of API v1, made by pydantic from the job contract's dataclasses.

``JobSettings`` is validated as it is written in ``scail_blender.jobs.contract`` (the same
``Literal`` choices, defaults and types), strictly and with unknown fields refused, so a typo
in a setting is an error rather than a silently ignored default.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

import pydantic
from pydantic import ConfigDict, TypeAdapter

from scail_blender.jobs.contract import (AnyJob, ExtractJob, ExtractResult, ExtractSettings, JobResult, JobSettings,
                                        setting_fields)
from scail_blender.jobs.status import JobError, JobStatus

STRICT = ConfigDict(extra="forbid", strict=True)


def _document_settings(schema: dict[str, Any]) -> None:
    """Each setting's help text and bounds in the OpenAPI schema, from the contract's fields.

    Documented, not enforced by pydantic: ``Job.validate`` checks the bounds and raises the typed
    error (a 422 ``over_limit`` for too many steps, ``invalid_input`` otherwise) with its advice.
    """
    for name, f in setting_fields().items():
        prop = schema.get("properties", {}).get(name)
        if prop is None:
            continue
        m = f.metadata
        prop["description"] = m["doc"]
        if m["low"] is not None:
            prop["exclusiveMinimum" if m["above"] else "minimum"] = m["low"]
        if m["high"] is not None:
            prop["maximum"] = m["high"]


StrictSettings = pydantic.dataclasses.dataclass(JobSettings, config=ConfigDict(extra="forbid", strict=True,
                                                                                json_schema_extra=_document_settings))
StrictExtractSettings = pydantic.dataclasses.dataclass(ExtractSettings, config=STRICT)


@pydantic.dataclasses.dataclass(config=STRICT, kw_only=True)
class JobRequest:
    """The ``job`` form field of ``POST /v1/jobs``."""

    prompt: str = ""
    negative_prompt: str = ""
    settings: StrictSettings = field(default_factory=StrictSettings)  # type: ignore[valid-type]


JOB_REQUEST = TypeAdapter(JobRequest)
# The ``settings`` form field of ``POST /v1/extract``.
EXTRACT_REQUEST = TypeAdapter(StrictExtractSettings)


class JobView(pydantic.BaseModel):
    """One job as the API shows it: its status, what was asked, and where the result is."""

    id: str
    kind: str = pydantic.Field(description="generate (POST /v1/jobs) or extract (POST /v1/extract)")
    state: str
    phase: str | None
    step: int
    total: int
    message: str
    progress: float = pydantic.Field(description="fraction of the whole job done, 0..1")
    eta_seconds: float | None = pydantic.Field(description="seconds left; null while unknown")
    error: JobError | None
    result: JobResult | ExtractResult | None = pydantic.Field(
        description="output is the URL of the result: the mp4, or the motion .npz of an extraction")
    created: float
    started: float | None
    finished: float | None
    attempts: int
    prompt: str = ""
    negative_prompt: str = ""
    settings: JobSettings | ExtractSettings

    @classmethod
    def of(cls, status: JobStatus, job: AnyJob, attempts: int) -> JobView:
        data = status.to_dict()
        if status.result is not None:
            data["result"]["output"] = f"/v1/jobs/{status.id}/result"
        if isinstance(job, ExtractJob):
            return cls(**data, kind=job.kind, attempts=attempts, settings=job.settings)
        return cls(**data, kind="generate", attempts=attempts, prompt=job.inputs.prompt,
                   negative_prompt=job.inputs.negative_prompt, settings=job.settings)


class JobPage(pydantic.BaseModel):
    jobs: list[JobView]
    total: int
    limit: int
    offset: int


class Health(pydantic.BaseModel):
    ok: bool
    version: str
    queued: int
    running: str | None = pydantic.Field(description="id of the running job")


class ModelInfo(pydantic.BaseModel):
    checkpoint: str
    variant: str
    device: str
    loaded: bool
    memory: dict[str, int] = pydantic.Field(description="bytes: process_rss, and cuda_allocated / "
                                            "cuda_reserved on a GPU")
