"""The job board: every long job of the add-on in one list, drained by one persistent timer.

Generations and motion extractions go to a backend (``jobs.backends``: in Blender's process or
on a job server) through one protocol; the board never asks which kind it holds. Pose renders
need the scene, so they run on the main thread in short slices of the same timer. Workers (the
runner's thread, the threads uploading to and following a server, pip, the local server's
health check) never touch bpy: they post plain events into ``_inbox``, and ``drain`` applies
them on the main thread: progress to the rows, a finished generation into the Sequencer, a
finished extraction imported as armatures. The timer is persistent and a ``load_post`` handler
registers it again, so jobs keep landing after another file is opened. Headless Blender has no
event loop to fire timers: scripts and tests call ``drain`` themselves.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import bpy
from bpy.app.handlers import persistent

from ..errors import Cancelled, ScailError
from ..jobs.backends import Backend
from ..jobs.contract import AnyJob
from ..jobs.status import JobError, JobStatus
from .delivery import Placement, import_motion, place_result, scene_rate_copy

log = logging.getLogger(__name__)

DRAIN_S = 0.25
RENDER_SLICE_S = 0.05  # main-thread time a pose render gets per timer call: Blender stays responsive
Kind = Literal["generate", "extract", "render"]


@dataclass
class JobRecord:
    """One row of the board."""

    key: str  # the board's own key, from the moment the row exists (a server gives its id later)
    kind: Kind
    label: str
    status: JobStatus
    backend: Backend | None = None  # None for a pose render, which runs on the main thread
    job: AnyJob | None = None  # what was sent (its inputs, settings and output path)
    job_id: str = ""  # the backend's id, once it accepted the job
    placement: Placement | None = None  # a generation's strip
    render: Any = None  # a pose render's PoseRenderJob
    error: str = ""
    outcome: str = ""  # what became of the result: the strip, the imported armatures, the video
    strip: str = ""  # a generation's strip, once placed
    cancel_requested: bool = False  # pressed before the backend accepted the job: sent once it does

    @property
    def final(self) -> bool:
        return self.status.final

    def line(self) -> str:
        s = self.status
        if self.error:
            return self.error
        if self.backend is not None and not self.job_id and not s.final:
            return "cancelling once sent" if self.cancel_requested else self.backend.sending
        if s.state == "running" and self.kind == "render":
            return f"{s.message} ({s.progress:.0%})"
        if s.state == "running":
            eta = f", {s.eta_seconds:.0f} s left" if s.eta_seconds is not None else ""
            doing = s.message or s.phase or "starting"
            return f"{s.phase} {s.step}/{s.total}{eta}" if s.total and s.phase else f"{doing}{eta}"
        if s.state == "succeeded":
            return self.outcome or ("placing in the Sequencer" if self.placement is not None else "done")
        return s.state


@dataclass
class Activity:
    """A side task shown in the panel: the local server, the backend install, Get Models."""

    state: str = ""  # "", "running", "ok", "failed"
    message: str = ""
    lines: list[str] = field(default_factory=list)


_inbox: queue.SimpleQueue = queue.SimpleQueue()
records: dict[str, JobRecord] = {}
activities: dict[str, Activity] = {"server": Activity(), "install": Activity(), "models": Activity()}
_senders: dict[int, queue.SimpleQueue] = {}  # id(backend) -> its sender's queue
_pending: set[str] = set()  # rows whose job is queued for sending or being sent
_pending_lock = threading.Lock()


# Any thread --------------------------------------------------------------------------------------

def post(kind: str, key: str, value: Any) -> None:
    """Hand an event to the main thread; touches no bpy."""
    _inbox.put((kind, key, value))


# Main thread -------------------------------------------------------------------------------------

def send(kind: Kind, label: str, backend: Backend, job: AnyJob, placement: Placement | None = None) -> JobRecord:
    """Add a row and submit ``job`` to ``backend`` from a thread (an upload never holds up
    Blender); the row learns the backend's id, or shows its refusal, through the inbox. Jobs
    reach a backend in the order they were added, so its queue runs them in that order."""
    key = f"{kind}-{uuid.uuid4().hex[:12]}"
    record = JobRecord(key=key, kind=kind, label=label, status=JobStatus(id=key), backend=backend, job=job,
                       placement=placement)
    records[key] = record
    listener = _listener(record)

    def submit() -> None:
        try:
            job_id = backend.submit(job, listener)
        except Exception as exc:  # the server's refusal, or no server: shown in the row
            log.warning("sending %s job %s failed: %s", kind, key, exc)
            post("status", key, JobStatus(id=key, state="failed", error=JobError.of(exc)))
        else:
            post("accepted", key, (backend, job_id))

    with _pending_lock:
        _pending.add(key)
    _sender(backend).put((key, submit))
    _redraw()
    return record


def _sender(backend: Backend) -> queue.SimpleQueue:
    """The queue of one daemon thread that submits to ``backend``, one job after the other; while
    it sends a job the thread is named ``scail-send-KEY`` (idle: ``scail-sender``)."""
    sender = _senders.get(id(backend))
    if sender is None:
        sender = _senders[id(backend)] = queue.SimpleQueue()

        def work() -> None:
            while True:
                key, submit = sender.get()
                threading.current_thread().name = f"scail-send-{key}"
                try:
                    submit()
                finally:
                    with _pending_lock:
                        _pending.discard(key)
                    threading.current_thread().name = "scail-sender"

        threading.Thread(target=work, name="scail-sender", daemon=True).start()
    return sender


def sending() -> bool:
    """Whether a job is still waiting to be sent or being sent (an upload to a server, say)."""
    with _pending_lock:
        return bool(_pending)


def add_render(label: str, render: Any) -> JobRecord:
    """Add a pose render (a ``PoseRenderJob``): the timer advances it a slice at a time."""
    key = f"render-{uuid.uuid4().hex[:12]}"
    record = JobRecord(key=key, kind="render", label=label, render=render,
                       status=JobStatus(id=key, state="running", phase="render", message=render.message))
    records[key] = record
    _redraw()
    return record


def rendering() -> bool:
    """Whether a pose render is on the board and not finished (one at a time: the scene is shared)."""
    return any(r.kind == "render" and not r.final for r in records.values())


def cancel(record: JobRecord) -> None:
    """Stop the job: a backend is asked from a thread (never wait on the network here)."""
    if record.render is not None:
        record.render.cancel()
    elif record.job_id:
        _in_thread(record.backend.cancel, record.job_id, record.key)
    else:
        record.cancel_requested = True


def remove(record: JobRecord) -> None:
    """Take the row off the board; the backend forgets the job too (a server deletes its files;
    one still uploading is deleted when the server accepts it). Results already delivered stay."""
    records.pop(record.key, None)
    if record.render is not None and not record.final:
        record.render.abort()
    elif record.job_id:
        _in_thread(record.backend.remove, record.job_id, record.key)
    _redraw()


def drain() -> float:
    """The timer: apply every waiting event, advance a pose render; the seconds until the next call."""
    changed = _step_render()
    while True:
        try:
            kind, key, value = _inbox.get_nowait()
        except queue.Empty:
            break
        changed = True
        try:
            _apply(kind, key, value)
        except Exception:  # one bad event must not stop the timer for good
            log.exception("applying a %s event failed", kind)
    if changed:
        _redraw()
    return DRAIN_S


def drain_until(done: Callable[[], bool], timeout: float) -> bool:
    """Call ``drain`` until ``done()`` (headless scripts: no event loop fires timers there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drain()
        if done():
            return True
        time.sleep(0.05)
    drain()
    return done()


def _listener(record: JobRecord):
    """Posts every status of the record's job. A generation's result is then prepared off the main
    thread (the scene-rate copy is written in a thread of its own, not the runner's, whose job
    lock is held while listeners run), so the timer only has to add a strip."""
    key, placement = record.key, record.placement

    def prepare(status: JobStatus) -> None:
        try:
            extra = scene_rate_copy(status, placement.scene_fps)
        except Exception as exc:  # the job is done; only its strip copy failed
            log.exception("scene-rate copy of %s failed", status.result.output)
            extra = {"error": f"the result {status.result.output} could not be copied at the scene rate ({exc})"}
        post("deliver", key, (status, extra))

    def listener(status: JobStatus) -> None:
        post("status", key, status)
        if placement is not None and status.state == "succeeded" and status.result is not None:
            threading.Thread(target=prepare, args=(status,), name=f"scail-copy-{key}", daemon=True).start()

    return listener


def _apply(kind: str, key: str, value: Any) -> None:
    if kind == "activity":
        activity = activities[key]
        state, message = value
        if state == "line":
            activity.lines = [*activity.lines[-4:], message]
        else:
            activity.state, activity.message = state, message
        return
    record = records.get(key)
    if kind == "accepted":
        backend, job_id = value
        if record is None:  # removed while it was being sent: the backend forgets it too
            _in_thread(backend.remove, job_id, key)
            return
        record.job_id = job_id
        if record.cancel_requested:
            _in_thread(backend.cancel, job_id, key)
        return
    if record is None:
        return  # removed from the board meanwhile
    if kind == "error":
        record.error = value
        return
    if kind == "deliver":
        _deliver(record, *value)
        return
    status = value
    if record.status.final and not status.final:
        return  # a late progress event after the end
    record.status = status
    if status.error is not None:
        record.error = status.error.message
    if status.state == "succeeded" and record.placement is None:
        _deliver(record, status, {})


def _deliver(record: JobRecord, status: JobStatus, extra: dict[str, Any]) -> None:
    """Put a finished job's result where the user looks for it (main thread)."""
    try:
        if "error" in extra:
            record.error = extra["error"]
        elif record.kind == "generate":
            record.strip = place_result(record.placement, Path(extra["strip_file"]), int(extra["strip_frames"]),
                                        record.job_id or record.key)
            record.outcome = f"in the Sequencer: {record.strip}"
        elif record.kind == "extract":
            record.outcome = import_motion(status)
    except ScailError as exc:
        record.error = f"extracted to {status.result.output} but not imported: {exc}" if record.kind == "extract" else str(exc)


def _step_render() -> bool:
    """Advance the running pose render by one slice; True when its row changed."""
    record = next((r for r in records.values() if r.kind == "render" and not r.final), None)
    if record is None:
        return False
    job = record.render
    try:
        files = job.tick(RENDER_SLICE_S)
    except Cancelled as exc:
        record.status = JobStatus(id=record.key, state="cancelled", message=str(exc))
        return True
    except ScailError as exc:
        record.status = JobStatus(id=record.key, state="failed", error=JobError.of(exc))
        record.error = str(exc)
        return True
    except Exception as exc:  # a bug: still end the row, and leave the traceback in the console
        log.exception("pose render failed")
        record.status = JobStatus(id=record.key, state="failed", error=JobError.of(exc))
        record.error = f"pose render failed ({type(exc).__name__}: {exc}); see the console"
        return True
    if files is None:
        record.status = JobStatus(id=record.key, state="running", phase="render", step=round(100 * job.progress),
                                  total=100, message=job.message, progress=job.progress)
        return True
    record.status = JobStatus(id=record.key, state="succeeded", phase="done", message=job.message, progress=1.0)
    mask = f" and {files.mask.name}" if files.mask is not None else ""
    record.outcome = f"wrote {files.video.name}{mask} ({files.frames} frames)" + (
        f"; {'; '.join(files.warnings)}" if files.warnings else "")
    return True


def _redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "SEQUENCE_EDITOR"}:
                area.tag_redraw()


@persistent
def _before_load(_dummy=None) -> None:
    """A pose render reads the open file's scene: stop it (and its files) before another file opens."""
    for record in records.values():
        if record.kind == "render" and not record.final:
            record.render.abort()
            record.status = JobStatus(id=record.key, state="cancelled", message="another file was opened")


@persistent
def _after_load(_dummy=None) -> None:
    if not bpy.app.timers.is_registered(drain):
        bpy.app.timers.register(drain, persistent=True)


def register() -> None:
    if not bpy.app.timers.is_registered(drain):
        bpy.app.timers.register(drain, first_interval=DRAIN_S, persistent=True)
    for handlers, handler in ((bpy.app.handlers.load_pre, _before_load), (bpy.app.handlers.load_post, _after_load)):
        if handler not in handlers:
            handlers.append(handler)


def unregister() -> None:
    """Stop the timer and the handlers (``backends.unregister`` stops what runs the jobs)."""
    if bpy.app.timers.is_registered(drain):
        bpy.app.timers.unregister(drain)
    for handlers, handler in ((bpy.app.handlers.load_pre, _before_load), (bpy.app.handlers.load_post, _after_load)):
        if handler in handlers:
            handlers.remove(handler)


def _in_thread(call: Callable[[str], Any], job_id: str, key: str) -> None:
    """``call(job_id)`` on a backend from a thread; a failure is shown on the row ``key``."""
    def run() -> None:
        try:
            call(job_id)
        except Exception as exc:  # shown in the job list
            post("error", key, str(exc))

    threading.Thread(target=run, name=f"scail-{call.__name__}-{job_id[:8]}", daemon=True).start()
