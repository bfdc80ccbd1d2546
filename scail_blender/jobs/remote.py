"""Jobs on a job server, followed from this process: what Blender's "Server" backend runs.

It offers what ``LocalRunner`` offers Blender (submit with a listener, cancel, remove), so the
add-on treats both backends alike. The upload happens in the caller's thread (Blender's is one of
its own, ``blender.jobs.upload``), so a refused job fails there with the server's message; the
job's events are then followed in a daemon thread (riding out a server restart),
which on success downloads the result before it passes the final status on. Listeners are called
in that thread: they must not touch bpy.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

from ..errors import ScailError
from .client import FOLLOW_PATIENCE_S, ScailClient
from .contract import Job
from .runner import JobError, JobStatus, Listener

log = logging.getLogger(__name__)


class ServerJobs:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.client = ScailClient(url, token or None)

    def submit(self, job: Job, result_path: Path, listener: Listener) -> JobStatus:
        """Upload the job (raises the server's refusal), then follow it until it ends."""
        job.validate()
        status = self.client.submit(job)
        threading.Thread(target=self._follow, args=(status.id, Path(result_path), listener),
                         name=f"scail-follow-{status.id[:8]}", daemon=True).start()
        return status

    def cancel(self, job_id: str) -> None:
        self.client.cancel(job_id)

    def remove(self, job_id: str) -> None:
        self.client.delete(job_id)

    def _follow(self, job_id: str, result_path: Path, listener: Listener) -> None:
        try:
            for status in self.client.events(job_id, patience=FOLLOW_PATIENCE_S):
                if status.state == "succeeded" and status.result is not None:
                    self.client.download(job_id, result_path)
                    status = replace(status, result=replace(status.result, output=str(result_path)))
                listener(status)
        except ScailError as exc:  # the server went away or refused the download
            log.warning("following job %s failed: %s", job_id, exc)
            listener(JobStatus(id=job_id, state="failed", error=JobError.of(exc)))
        except Exception as exc:  # a bug: the job list must still say the job ended
            log.exception("following job %s failed", job_id)
            listener(JobStatus(id=job_id, state="failed", error=JobError.of(exc)))
