"""Generation jobs seen from Blender: one inbox, one persistent timer, the panel's job list.

Workers (the in-process ``LocalRunner``'s thread, the threads following server jobs, pip and
the local server's health check) never touch bpy: they post plain events into ``_inbox``. The
timer callback ``drain`` runs on the main thread, applies them to the job list (plain records,
drawn by the panel) and puts finished results into the Sequencer. The timer is persistent and a
``load_post`` handler registers it again, so jobs keep landing after another file is opened.
Headless Blender has no event loop to fire timers: scripts and tests call ``drain`` themselves.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
from bpy.app.handlers import persistent

from ..jobs.contract import Job
from ..jobs.runner import JobError, JobStatus
from .sequencer import place_movie

log = logging.getLogger(__name__)

DRAIN_S = 0.25


@dataclass
class Placement:
    """Where and how a result goes into the Sequencer: plain values taken when the job was sent."""

    blend: str  # bpy.data.filepath when sent: a result lands only in the file it was made for
    scene: str
    frame_start: int
    channel: int  # lowest channel the result may use: the one above its pose strip
    scene_fps: float
    prompt: str
    seed: int


@dataclass
class JobRecord:
    """One row of the panel's job list."""

    id: str  # the key of the job list: the runner's id, or a key of ours while a server upload runs
    backend: str  # "IN_PROCESS" or "SERVER"
    placement: Placement
    status: JobStatus
    label: str = ""
    strip: str = ""  # the strip's name once placed
    error: str = ""
    # The in-process job's JobHandle, or the ServerJobs that holds a server job.
    handle: Any = None
    remote_id: str = ""  # the server's id, once it accepted the upload
    cancel_requested: bool = False  # Cancel pressed while the upload ran: sent once the server accepts

    def cancel(self) -> None:
        """Ask the backend to stop the job; a server is asked from a thread (never wait on the network here)."""
        if self.backend == "IN_PROCESS":
            self.handle.cancel()
        elif self.remote_id:
            _in_thread(self.handle.cancel, self.remote_id, self.id)
        else:
            self.cancel_requested = True

    def forget(self) -> None:
        """Remove the job from its backend too (a server deletes its files; one still uploading is
        deleted when the server accepts it)."""
        if self.backend == "IN_PROCESS":
            self.handle.cancel()
        elif self.remote_id:
            _in_thread(self.handle.remove, self.remote_id, self.id)

    @property
    def final(self) -> bool:
        return self.status.final

    def line(self) -> str:
        s = self.status
        if self.error:
            return self.error
        if self.backend == "SERVER" and not self.remote_id and not s.final:
            return "cancelling after the upload" if self.cancel_requested else "uploading to the server"
        if s.state == "running":
            eta = f", {s.eta_seconds:.0f} s left" if s.eta_seconds is not None else ""
            return f"{s.phase or 'starting'} {s.step}/{s.total}{eta}" if s.total else f"{s.phase or 'starting'}{eta}"
        if s.state == "succeeded":
            return f"in the Sequencer: {self.strip}" if self.strip else "done"
        return s.state


@dataclass
class Activity:
    """A side task shown in the panel: the local server, the backend install."""

    state: str = ""  # "", "running", "ok", "failed"
    message: str = ""
    lines: list[str] = field(default_factory=list)


_inbox: queue.SimpleQueue = queue.SimpleQueue()
records: dict[str, JobRecord] = {}
activities: dict[str, Activity] = {"server": Activity(), "install": Activity()}
backends: dict[str, Any] = {}  # "IN_PROCESS" -> LocalRunner, "SERVER" -> ServerJobs, "local_server" -> LocalServer


# Any thread --------------------------------------------------------------------------------------

def post(kind: str, key: str, value: Any) -> None:
    """Hand an event to the main thread; touches no bpy."""
    _inbox.put((kind, key, value))


def job_listener(placement: Placement, key: str | None = None):
    """A runner listener that posts every status (to the record ``key``, else the status's id); a
    success is finished off the main thread first.

    The scene-rate copy of a result is written in a thread of its own (not the runner's, whose
    job lock is held while listeners run), so the timer only has to add a strip.
    """
    def finish(status: JobStatus) -> None:
        try:
            extra = _scene_rate(status, placement.scene_fps)
        except Exception as exc:  # the job is done; only its strip copy failed
            log.exception("scene-rate copy of %s failed", status.result.output)
            extra = {"error": f"the result {status.result.output} could not be copied at the scene rate ({exc})"}
        post("job", key or status.id, (status, extra))

    def listener(status: JobStatus) -> None:
        if status.state == "succeeded" and status.result is not None:
            threading.Thread(target=finish, args=(status,), name=f"scail-copy-{status.id[:8]}", daemon=True).start()
        else:
            post("job", key or status.id, (status, {}))

    return listener


def upload(server: Any, job: Job, key: str, listener) -> None:
    """Send a job to the server from a thread, so a large upload or a slow network never holds up
    Blender; the record ``key`` learns the server's id (or the refusal) through the inbox."""
    def run() -> None:
        try:
            status = server.submit(job, Path(job.output), listener)
        except Exception as exc:  # the server's refusal, or no server: shown in the job list
            log.warning("sending job %s failed: %s", key, exc)
            post("job", key, (JobStatus(id=key, state="failed", error=JobError.of(exc)), {}))
        else:
            post("accepted", key, (server, status.id))

    threading.Thread(target=run, name=f"scail-upload-{key[:8]}", daemon=True).start()


def _scene_rate(status: JobStatus, scene_fps: float) -> dict[str, Any]:
    from ..pose.outputs import write_scene_rate_copy

    r = status.result
    assert r is not None
    if abs(r.fps - scene_fps) < 1e-6:
        return {"strip_file": r.output, "strip_frames": r.frames}
    path, frames = write_scene_rate_copy(Path(r.output), r.fps, r.frames, (r.height, r.width), scene_fps)
    return {"strip_file": str(path), "strip_frames": frames}


# Main thread -------------------------------------------------------------------------------------

def add_record(record: JobRecord) -> None:
    records[record.id] = record
    _redraw()


def drain() -> float:
    """The timer: apply every waiting event; returns the seconds until the next call."""
    changed = False
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


def drain_until(done, timeout: float) -> bool:
    """Call ``drain`` until ``done()`` (headless scripts: no event loop fires timers there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drain()
        if done():
            return True
        time.sleep(0.05)
    drain()
    return done()


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
        server, remote_id = value
        if record is None:  # removed while it uploaded
            _in_thread(server.remove, remote_id, key)
            return
        record.remote_id = remote_id
        if record.cancel_requested:
            _in_thread(server.cancel, remote_id, key)
        return
    if record is None:
        return  # removed from the list meanwhile
    if kind == "job_error":
        record.error = value
        return
    status, extra = value
    if record.status.final and not status.final:
        return  # a late progress event after the end
    record.status = status
    if status.error is not None:
        record.error = status.error.message
    if status.state == "succeeded" and not record.strip:
        if "error" in extra:
            record.error = extra["error"]
        else:
            _place(record, Path(extra["strip_file"]), int(extra["strip_frames"]))


def _place(record: JobRecord, path: Path, frames: int) -> None:
    p = record.placement
    scene = bpy.data.scenes.get(p.scene)
    if bpy.data.filepath != p.blend or scene is None:
        where = f"{p.blend or 'an unsaved file'}, scene {p.scene!r}"
        record.error = f"done, but its file ({where}) is not open: the result is {path}"
        return
    name = f"SCAIL {p.seed}: {p.prompt}"[:60] if p.prompt else f"SCAIL {p.seed}"
    strip = place_movie(scene, path, p.frame_start, frames, name=name, min_channel=p.channel)
    strip["scail_prompt"] = p.prompt
    strip["scail_seed"] = p.seed
    strip["scail_job"] = record.remote_id or record.id
    record.strip = strip.name


def _redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "SEQUENCE_EDITOR"}:
                area.tag_redraw()


@persistent
def _after_load(_dummy=None) -> None:
    if not bpy.app.timers.is_registered(drain):
        bpy.app.timers.register(drain, persistent=True)


def register() -> None:
    atexit.register(_stop_runner, 10.0)
    if not bpy.app.timers.is_registered(drain):
        bpy.app.timers.register(drain, first_interval=DRAIN_S, persistent=True)
    if _after_load not in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.append(_after_load)


def unregister() -> None:
    """Stop the timer and everything this add-on started: the local server, the in-process model."""
    if bpy.app.timers.is_registered(drain):
        bpy.app.timers.unregister(drain)
    if _after_load in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_after_load)
    server = backends.pop("local_server", None)
    if server is not None:
        server.stop()
    atexit.unregister(_stop_runner)
    threading.Thread(target=_stop_runner, daemon=True).start()  # never block Blender on a running step


def _stop_runner(timeout: float | None = None) -> None:
    """Cancel the in-process jobs and end the worker thread (at quit, before the interpreter goes:
    a torch thread still alive then aborts the process)."""
    runner = backends.pop("IN_PROCESS", None)
    if runner is None:
        return
    for record in records.values():
        if record.backend == "IN_PROCESS" and not record.final:
            record.handle.cancel()
    runner.close(timeout)


def _in_thread(call, job_id: str, key: str) -> None:
    """``call(job_id)`` on a server from a thread; a failure is shown on the record ``key``."""
    def run() -> None:
        try:
            call(job_id)
        except Exception as exc:  # shown in the job list
            post("job_error", key, str(exc))

    threading.Thread(target=run, name=f"scail-{call.__name__}-{job_id[:8]}", daemon=True).start()
