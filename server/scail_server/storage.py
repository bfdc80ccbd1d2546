"""Jobs on disk: one SQLite file (WAL) for the records, one folder per job for its files.

The database is the truth after a restart, including after kill -9: every accepted job has a
row before the client hears 201, every status change is written as it happens, and files only
appear under their final names once complete (written to a temporary name, then renamed).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from scail_blender.backend.jobs import AnyJob, job_from_dict
from scail_blender.backend.runner import JobError, JobStatus

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order: the order jobs run in
    id TEXT UNIQUE NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,    -- times the job started running
    job TEXT NOT NULL,                      -- Job/ExtractJob.to_dict(), paths inside the job's folder
    status TEXT NOT NULL                    -- JobStatus.to_dict()
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
"""
# A job found running at start-up ran when the server died; it gets one more go.
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class Record:
    job: AnyJob
    status: JobStatus
    attempts: int


class Storage:
    """Thread-safe: one connection behind a lock (requests and the runner's worker share it)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir).resolve()  # stored paths must not depend on the working folder
        self.jobs_dir = self.root / "jobs"
        self.uploads_dir = self.root / "uploads"
        for folder in (self.jobs_dir, self.uploads_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.uploads_dir.iterdir():  # uploads cut off by a stop never became jobs
            shutil.rmtree(leftover, ignore_errors=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged job survives a power cut too
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def new_upload_dir(self) -> Path:
        folder = self.uploads_dir / uuid.uuid4().hex
        folder.mkdir()
        return folder

    def add(self, job: AnyJob, status: JobStatus) -> None:
        with self._lock:
            self._db.execute("INSERT INTO jobs (id, state, job, status) VALUES (?, ?, ?, ?)",
                             (status.id, status.state, json.dumps(job.to_dict()), json.dumps(status.to_dict())))

    def update(self, status: JobStatus) -> None:
        """Write a status; a job entering "running" counts one more attempt."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET attempts = attempts + (? = 'running' AND state != 'running'), state = ?, "
                "status = ? WHERE id = ?", (status.state, status.state, json.dumps(status.to_dict()), status.id))

    def get(self, job_id: str) -> Record | None:
        with self._lock:
            row = self._db.execute("SELECT job, status, attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _record(row)

    def page(self, limit: int, offset: int) -> tuple[list[Record], int]:
        """Jobs in submission order, and how many there are in all."""
        with self._lock:
            rows = self._db.execute("SELECT job, status, attempts FROM jobs ORDER BY seq LIMIT ? OFFSET ?",
                                    (limit, offset)).fetchall()
            total = self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        return [_record(row) for row in rows], total

    def delete(self, job_id: str) -> None:
        """Forget the job and remove its folder."""
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def running(self) -> list[str]:
        """The jobs the database says are running."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT id FROM jobs WHERE state = 'running'")]

    def requeue(self, job_id: str) -> None:
        """Back to the queue without counting the attempt (the server is stopping cleanly)."""
        with self._lock:
            row = self._db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return
            old = JobStatus.from_dict(json.loads(row[0]))
            status = JobStatus(id=job_id, created=old.created)
            self._db.execute("UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), status = ? "
                             "WHERE id = ?", (json.dumps(status.to_dict()), job_id))

    def recover(self) -> list[Record]:
        """After a stop: re-queue jobs that were running (once), fail them after that; return every
        queued job in submission order, to be given to the runner again."""
        with self._lock:
            rows = self._db.execute("SELECT job, status, attempts FROM jobs WHERE state = 'running'").fetchall()
        for record in map(_record, rows):
            if record.attempts < MAX_ATTEMPTS:
                log.warning("job %s was running when the server stopped; queued again", record.status.id)
                status = JobStatus(id=record.status.id, created=record.status.created)
            else:
                log.warning("job %s was running at %d stops; failed", record.status.id, record.attempts)
                status = replace(record.status, state="failed", finished=time.time(), eta_seconds=None, error=JobError(
                    code="interrupted", message=f"the server stopped {record.attempts} times while this job ran "
                    "(a crash or running out of memory?); see the server log, then submit it again"))
            self.update(status)
        with self._lock:
            rows = self._db.execute("SELECT job, status, attempts FROM jobs WHERE state = 'queued' ORDER BY seq"
                                    ).fetchall()
        return [_record(row) for row in rows]

    def expired(self, keep_days: float) -> list[str]:
        """Finished jobs older than ``keep_days``."""
        cutoff = time.time() - keep_days * 86400
        with self._lock:
            rows = self._db.execute("SELECT status FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')"
                                    ).fetchall()
        statuses = [JobStatus.from_dict(json.loads(row[0])) for row in rows]
        return [s.id for s in statuses if (s.finished or s.created) < cutoff]

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free


def _record(row: tuple[str, str, int]) -> Record:
    return Record(job=job_from_dict(json.loads(row[0])), status=JobStatus.from_dict(json.loads(row[1])),
                  attempts=row[2])


def replace_atomically(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` and make the rename durable (fsync the folder)."""
    os.replace(source, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
