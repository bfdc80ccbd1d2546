"""Extract Motion from Video, Blender's side: a job in a worker, its results drained on the main thread.

The extraction runs as an ``ExtractJob`` on the one job runner: in Blender's process (a runner
without a checkpoint, made on first use and kept, so later jobs queue behind earlier ones) or
on the job server (``POST /v1/extract``, followed by its event stream in a thread). Workers
never touch bpy: they put ``JobStatus`` snapshots and the finished motion file into a queue,
and ``ExtractionTask.drain`` (a ``bpy.app.timers`` callback, or called directly in headless
tests, where timers do not fire) reads them and imports the motion with Import Motion's own
code path.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import bpy

from ..jobs.contract import ExtractJob, ExtractSettings
from ..jobs.runner import JobHandle, JobStatus, LocalRunner
from ..errors import ScailError
from . import prefs

log = logging.getLogger(__name__)

DRAIN_INTERVAL_S = 0.25
_runner: LocalRunner | None = None
_current: ExtractionTask | None = None


@dataclass(frozen=True)
class _Downloaded:
    """The server's result, saved where the job said: the worker's last word on success."""

    path: str


@dataclass(frozen=True)
class _Failed:
    message: str


def local_runner() -> LocalRunner:
    """Blender's own runner, made on first use: it only extracts (no SCAIL checkpoint)."""
    global _runner
    if _runner is None:
        _runner = LocalRunner(None)
    return _runner


def current() -> ExtractionTask | None:
    """The extraction started last (running or finished), for the panel."""
    return _current


class ExtractionTask:
    """One extraction in flight and, once it ends, what became of it (``message``, ``armatures``)."""

    def __init__(self, job: ExtractJob, server: tuple[str, str] | None) -> None:
        self.job = job
        self.updates: queue.Queue[JobStatus | _Downloaded | _Failed] = queue.Queue()
        self.status: JobStatus | None = None
        self.done = False
        self.message = "Queued..."
        self.armatures: list[str] = []
        self._handle: JobHandle | None = None
        self._server = server
        self._job_id: str | None = None
        self._cancel = threading.Event()
        if server is None:
            self._handle = local_runner().submit(job, listener=self.updates.put)
        else:
            threading.Thread(target=self._follow_server, name="scail-extract-client", daemon=True).start()

    @property
    def progress(self) -> float:
        return self.status.progress if self.status is not None else 0.0

    def cancel(self) -> None:
        """Stop the job after its current frame (a queued one at once); the drain reports it."""
        self._cancel.set()
        if self._handle is not None:
            self._handle.cancel()
        elif self._job_id is not None:
            threading.Thread(target=self._cancel_on_server, daemon=True).start()

    def drain(self) -> bool:
        """Apply the workers' updates (main thread only); True while the job still runs. At the end
        the motion is imported into the current scene."""
        while not self.done:
            try:
                update = self.updates.get_nowait()
            except queue.Empty:
                break
            if isinstance(update, JobStatus):
                self.status = update
                self.message = _describe(update)
                if update.final and self._server is None:
                    self._finish(update.result.output if update.state == "succeeded" else None)
            elif isinstance(update, _Downloaded):
                self._finish(update.path)
            else:
                self.message, self.done = update.message, True
        _redraw()
        return not self.done

    def _finish(self, motion_file: str | None) -> None:
        self.done = True
        if motion_file is None:
            if self.status is not None and self.status.state == "cancelled":
                self.message = "Extraction cancelled; nothing was imported"
            return
        from .build_rig import import_motion_file

        try:
            with _context_override():
                loaded, prepared, armatures = import_motion_file(motion_file, bpy.context)
        except ScailError as exc:
            self.message = f"The motion was extracted to {motion_file} but not imported: {exc}"
            return
        self.armatures = [a.name for a in armatures]
        self.message = f"Imported {len(armatures)} armature(s), {prepared.motion.frames} frames from {Path(motion_file).name}"
        for note in [*loaded.notes, *prepared.notes, *(self.status.result.notes if self.status.result else [])]:
            log.info("extract motion: %s", note)

    def _follow_server(self) -> None:
        """The server's side, in a thread: upload, follow the events, download the motion."""
        from ..jobs.client import ScailClient

        url, token = self._server  # type: ignore[misc]
        try:
            client = ScailClient(url, token or None)
            status = client.extract(self.job.video, self.job.align_ref, self.job.settings)
            self._job_id = status.id
            if self._cancel.is_set():
                client.cancel(status.id)
            self.updates.put(status)
            final = client.wait(status.id, on_status=self.updates.put)
            if final.state == "succeeded":
                self.updates.put(_Downloaded(str(client.download(status.id, self.job.output))))
            else:
                self.updates.put(_Failed(_describe(final)))
        except ScailError as exc:
            self.updates.put(_Failed(f"Extraction failed: {exc}"))
        except Exception as exc:  # a worker must always report, or the panel would wait forever
            log.exception("extraction on the server failed")
            self.updates.put(_Failed(f"Extraction failed ({type(exc).__name__}: {exc}); see the console"))

    def _cancel_on_server(self) -> None:
        from ..jobs.client import ScailClient

        url, token = self._server  # type: ignore[misc]
        try:
            ScailClient(url, token or None).cancel(self._job_id)  # type: ignore[arg-type]
        except ScailError as exc:
            self.updates.put(_Failed(f"Could not cancel on the server: {exc}"))


def start(context: bpy.types.Context, video: str, align_ref: str | None, settings: ExtractSettings,
          output: str) -> ExtractionTask:
    """Queue the extraction on the preferences' backend and drain it with a timer."""
    global _current
    chosen = prefs.preferences(context)
    server = (chosen.server_url, chosen.server_token) if chosen is not None and chosen.backend == "SERVER" else None
    job = ExtractJob(video=video, align_ref=align_ref, settings=settings, weights=prefs.pose_weights_dir(context),
                     output=output)
    task = ExtractionTask(job, server)
    _current = task
    bpy.app.timers.register(lambda: DRAIN_INTERVAL_S if task.drain() else None, first_interval=DRAIN_INTERVAL_S)
    return task


def _describe(status: JobStatus) -> str:
    if status.state == "failed" and status.error is not None:
        return f"Extraction failed: {status.error.message}"
    if status.state == "cancelled":
        return "Extraction cancelled; nothing was imported"
    if status.state == "queued":
        return "Queued..."
    eta = f", {status.eta_seconds:.0f} s left" if status.eta_seconds is not None else ""
    return f"Extracting: {status.message or status.phase or 'starting'}{eta}"


def _context_override():
    """A window for the import's mode switches when the drain runs from a timer (no window there)."""
    window = bpy.context.window or next(iter(bpy.context.window_manager.windows), None)
    return bpy.context.temp_override(window=window) if window is not None else contextlib.nullcontext()


def _redraw() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
