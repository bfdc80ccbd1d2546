"""Jobs on disk: one SQLite file (WAL) for the records, one folder per job for its files.

The database is the truth after a restart, including after kill -9: every accepted job has a
row before the client hears 201, every status change is written as it happens, and files only
appear under their final names once complete (written to a temporary name, then renamed).

A full disk (SQLite's SQLITE_FULL) must not lose a job's end: a status the disk refuses is kept
in memory, read back from there, and written with the next write or ``flush`` once there is
space again. The log says so when the disk fills and when it has space again, at most once in
``FULL_LOG_S`` (a disk at its limit fills and frees with every write).
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

from scail_blender.jobs.contract import AnyJob, job_from_dict
from scail_blender.jobs.status import JobError, JobStatus

from .errors import ApiError

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
FULL_LOG_S = 600.0


@dataclass(frozen=True)
class Record:
    job: AnyJob
    status: JobStatus
    attempts: int


class DiskFull(ApiError):
    """A change other than a status (a new job, a deletion) that the full disk refused."""

    def __init__(self) -> None:
        super().__init__(507, "no_space", "the server's disk is full; try again once its operator has freed space "
                         "in its data folder")


@dataclass(frozen=True)
class _Unwritten:
    """A job's newest status that the full disk refused, and whether one it replaced started the job."""

    status: JobStatus
    started: bool


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
        self._unwritten: dict[str, _Unwritten] = {}  # in the order they came
        self._full = False
        self._full_logged: float | None = None  # when the log last said the disk is full
        self._said_full = False  # and has not said since that it has space again
        self._db = sqlite3.connect(self.root / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged job survives a power cut too
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database, after a last try to write what a full disk refused."""
        with self._lock:
            self._write_unwritten()
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
        """Record a new job; ``DiskFull`` when the disk refuses it."""
        with self._lock:
            self._write_unwritten()
            self._write("INSERT INTO jobs (id, state, job, status) VALUES (?, ?, ?, ?)",
                        (status.id, status.state, json.dumps(job.to_dict()), json.dumps(status.to_dict())))

    def update(self, status: JobStatus) -> None:
        """Write a status; a job entering "running" counts one more attempt. A full disk keeps it in
        memory (see the module's docstring), so this never fails for lack of space."""
        with self._lock:
            replaced = self._unwritten.pop(status.id, None)
            started = status.state == "running" or (replaced is not None and replaced.started)
            self._unwritten[status.id] = _Unwritten(status, started)
            self._write_unwritten()

    def flush(self) -> bool:
        """Write the statuses a full disk refused, if it takes them now; True when none is left."""
        with self._lock:
            return self._write_unwritten()

    def _write_unwritten(self) -> bool:
        """With the lock held: write the kept statuses in the order they came."""
        while self._unwritten:
            job_id, kept = next(iter(self._unwritten.items()))
            try:
                self._write("UPDATE jobs SET attempts = attempts + (? AND state != 'running'), state = ?, "
                            "status = ? WHERE id = ?",
                            (kept.started, kept.status.state, json.dumps(kept.status.to_dict()), job_id))
            except DiskFull:
                self._note_full()
                return False
            del self._unwritten[job_id]
        if self._full:
            self._full = False
            if self._said_full:
                self._said_full = False
                log.warning("the disk of %s has space again: the job status changes kept in memory are written",
                            self.root)
        return True

    def _note_full(self) -> None:
        if self._full:
            return
        self._full = True
        now = time.monotonic()
        if self._full_logged is None or now - self._full_logged >= FULL_LOG_S:
            self._full_logged, self._said_full = now, True
            log.error("the disk of %s is full: job status changes are kept in memory and written once there is "
                      "space again; free space there", self.root)

    def _write(self, sql: str, parameters: tuple) -> None:
        try:
            self._db.execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
                raise
            raise DiskFull from None

    def get(self, job_id: str) -> Record | None:
        with self._lock:
            row = self._db.execute("SELECT job, status, attempts, state FROM jobs WHERE id = ?",
                                   (job_id,)).fetchone()
            return None if row is None else self._record(row)

    def page(self, limit: int, offset: int) -> tuple[list[Record], int]:
        """Jobs in submission order, and how many there are in all."""
        with self._lock:
            rows = self._db.execute("SELECT job, status, attempts, state FROM jobs ORDER BY seq LIMIT ? OFFSET ?",
                                    (limit, offset)).fetchall()
            total = self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            return [self._record(row) for row in rows], total

    def _record(self, row: tuple[str, str, int, str]) -> Record:
        """With the lock held: the row as the job is now, with a status the disk refused."""
        record = _record(row[:3])
        kept = self._unwritten.get(record.status.id)
        if kept is None:
            return record
        return replace(record, status=kept.status, attempts=record.attempts + (kept.started and row[3] != "running"))

    def delete(self, job_id: str) -> None:
        """Forget the job and remove its folder; ``DiskFull`` when the disk refuses even that."""
        with self._lock:
            self._write("DELETE FROM jobs WHERE id = ?", (job_id,))
            self._unwritten.pop(job_id, None)
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def running(self) -> list[str]:
        """The jobs that are running (as far as their statuses were written, or kept by a full disk)."""
        with self._lock:
            states = dict(self._db.execute("SELECT id, state FROM jobs WHERE state = 'running'").fetchall())
            states.update((job_id, kept.status.state) for job_id, kept in self._unwritten.items())
        return [job_id for job_id, state in states.items() if state == "running"]

    def requeue(self, job_id: str) -> None:
        """Back to the queue without counting the attempt (the server is stopping cleanly): the
        attempt was counted only if the database says running; ``DiskFull`` when it refuses this."""
        with self._lock:
            row = self._db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return
            old = JobStatus.from_dict(json.loads(row[0]))
            status = JobStatus(id=job_id, created=old.created)
            self._unwritten.pop(job_id, None)
            self._write("UPDATE jobs SET attempts = attempts - (state = 'running'), state = 'queued', status = ? "
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
