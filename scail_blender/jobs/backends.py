"""Where a front end's jobs run: in this process, or on a job server, behind one small protocol.

Blender's job board holds a ``Backend`` per place and never asks which kind it has: it submits
any job (a generation or an extraction) with a listener, and cancels, removes or releases by
id. Listeners are called from worker threads (the runner's, or the one following a server job)
and must not touch bpy. ``submit`` may block (a server upload), so the board calls it from a
thread of its own.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from ..errors import InputError, ScailError
from .client import ScailClient
from .contract import AnyJob, ExtractJob, Job
from .follow import follow
from .runner import Extractor, JobHandle, LocalRunner, PipelineFactory, scail_extractor
from .status import JobError, JobStatus, Listener

log = logging.getLogger(__name__)


class Backend(Protocol):
    place: str  # where its jobs run, for messages ("in Blender", "on the server")
    sending: str  # what a job row says until ``submit`` returns ("uploading to the server")

    def submit(self, job: AnyJob, listener: Listener) -> str:
        """Queue ``job`` and return its id; the listener then sees every status to the last one,
        whose result names a local file."""

    def cancel(self, job_id: str) -> None:
        """Stop the job: at once when queued, after its current step when running."""

    def remove(self, job_id: str) -> None:
        """Forget the job (a running one is cancelled; a server deletes its files)."""

    def release(self) -> bool:
        """Free the loaded model now (True) or after the running job (False)."""


class InProcessBackend:
    """Jobs in this process: one runner per device, so an extraction queued behind a generation
    waits for it instead of sharing the GPU. The model loads with the first generation."""

    place = "in Blender"
    sending = "queuing in Blender"

    def __init__(self, checkpoint: str | Path | None, pipeline_factory: PipelineFactory, device: str | None = None,
                 extractor: Extractor = scail_extractor) -> None:
        self.runner = LocalRunner(checkpoint, device, pipeline_factory=pipeline_factory, extractor=extractor)
        self._handles: dict[str, JobHandle] = {}

    @property
    def checkpoint(self) -> Path | None:
        return self.runner.checkpoint

    def use_checkpoint(self, checkpoint: str | Path) -> None:
        """Generate with ``checkpoint`` from now on; refused while a generation is queued or runs."""
        if self.runner.checkpoint is not None and Path(checkpoint) == self.runner.checkpoint:
            return
        if any(isinstance(h.job, Job) and not h.status.final for h in self._handles.values()):
            raise InputError("The checkpoint folder changed while generations run in Blender: wait for them or "
                             "cancel them, then Generate again")
        self.runner.use_checkpoint(checkpoint)

    def submit(self, job: AnyJob, listener: Listener) -> str:
        handle = self.runner.submit(job, listener=listener)
        # Finished jobs need no handle any more (cancel and remove of them change nothing).
        self._handles = {i: h for i, h in self._handles.items() if not h.status.final}
        self._handles[handle.id] = handle
        return handle.id

    def cancel(self, job_id: str) -> None:
        handle = self._handles.get(job_id)
        if handle is not None:
            handle.cancel()

    def remove(self, job_id: str) -> None:
        handle = self._handles.pop(job_id, None)
        if handle is not None:
            handle.cancel()

    def release(self) -> bool:
        return self.runner.release()

    def close(self, timeout: float | None = None) -> None:
        """Cancel every job and end the worker (before the interpreter exits: a torch thread
        still alive then aborts the process)."""
        for handle in self._handles.values():
            handle.cancel()
        self.runner.close(timeout)


class ServerBackend:
    """Jobs on a ``scail serve`` server: uploaded in ``submit``, then followed in a daemon thread
    that downloads the result to the job's ``output`` before the final status is passed on."""

    place = "on the server"
    sending = "uploading to the server"

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.client = ScailClient(url, token or None)

    def submit(self, job: AnyJob, listener: Listener) -> str:
        """Upload the job (raises the server's refusal), then follow it until it ends."""
        job.validate()
        if isinstance(job, ExtractJob):
            status = self.client.extract(job.video, job.align_ref, job.settings)
        else:
            status = self.client.submit(job)
        threading.Thread(target=self._follow, args=(status.id, job.output, listener),
                         name=f"scail-follow-{status.id[:8]}", daemon=True).start()
        return status.id

    def cancel(self, job_id: str) -> None:
        self.client.cancel(job_id)

    def remove(self, job_id: str) -> None:
        self.client.delete(job_id)

    def release(self) -> bool:
        self.client.release()
        return True

    def _follow(self, job_id: str, output: str, listener: Listener) -> None:
        try:
            follow(self.client, job_id, listener, output)
        except ScailError as exc:  # the server went away or refused the download
            log.warning("following job %s failed: %s", job_id, exc)
            listener(JobStatus(id=job_id, state="failed", error=JobError.of(exc)))
        except Exception as exc:  # a bug: the board must still learn that the job ended
            log.exception("following job %s failed", job_id)
            listener(JobStatus(id=job_id, state="failed", error=JobError.of(exc)))
