"""The one job runner: Blender, the command line and the server all queue jobs through it.

Two kinds of job share the queue: generation (``Job``, run by the pipeline the factory makes)
and motion extraction (``ExtractJob``, run by the extractor), so progress, ETA, cancel and errors
work the same for both and one device never runs two networks at once.

Jobs go in with ``submit``; every change of a job (state, progress event, ETA, error, result)
comes out as one ``JobStatus`` snapshot, given to the job's listeners in the worker thread and
kept on its ``JobHandle``. One worker thread owns one device and keeps the loaded pipeline
between jobs, because loading the 14B DiT costs far more than most jobs' first steps. Every
error of a job ends that job only, so the queue keeps serving. Cancel is the ``Event`` the
pipeline already checks between steps.

This module imports no torch: the pipeline is imported when the first job runs, so Blender and
``scail submit`` can use the runner's types without it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from ..errors import Cancelled, InputError, ScailError
from ..progress import Progress
from .contract import AnyJob, AnyResult, ExtractJob, ExtractResult, Job, JobResult
from .status import JobError, JobStatus, Listener, State, out_of_space

log = logging.getLogger(__name__)

# The share of the whole job each phase fills: denoising is nearly all of a real job's time.
# Phases not listed (encode and decode between windows) keep the fraction where it is.
# Extraction is one long phase over the video's frames, then the write.
PHASE_SPANS: dict[str, tuple[float, float]] = {
    "load": (0.0, 0.05), "denoise": (0.05, 0.95), "extract": (0.0, 0.95), "write": (0.95, 1.0),
    "done": (1.0, 1.0),
}
# The phases of evenly sized steps that the ETA is measured on.
ETA_PHASES = frozenset({"denoise", "extract"})
class JobHandle:
    """One submitted job: its status, its cancel Event and the listeners of its changes.

    Only the worker moves a job past "queued"; ``cancel`` may come from any thread.
    """

    def __init__(self, job: AnyJob, job_id: str | None = None) -> None:
        self.id = job_id or uuid.uuid4().hex
        self.job = job
        self.cancel_event = threading.Event()
        self.exception: BaseException | None = None  # what a failed job raised, for in-process callers
        self.interrupted = False  # stopped by its process stopping, not by a cancel: it goes back to the queue
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._status = JobStatus(id=self.id, created=time.time())
        self._listeners: list[Listener] = []
        self._steady_start: tuple[float, int] | None = None

    @property
    def status(self) -> JobStatus:
        with self._lock:
            return self._status

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every later status; returns the function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job ends; TimeoutError after ``timeout`` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._status.final, timeout):
                raise TimeoutError(f"job {self.id} still {self._status.state} after {timeout} s")
            return self._status

    def result(self, timeout: float | None = None) -> AnyResult:
        """The result, or the job's own exception (Cancelled for a cancelled job)."""
        status = self.wait(timeout)
        if status.state == "succeeded" and status.result is not None:
            return status.result
        if status.state == "cancelled":
            raise Cancelled("Cancelled by the user; nothing was written")
        raise self.exception or status.error.exception()  # type: ignore[union-attr]

    def cancel(self) -> None:
        """Stop the job: at once when queued, after the current step when running."""
        self.cancel_event.set()
        with self._lock:
            if self._status.state == "queued":
                self._set(state="cancelled", finished=time.time())

    def interrupt(self) -> None:
        """Stop a running job because its process stops (a server's SIGTERM), not because anyone wants
        it gone: after the current step it goes back to "queued", never to "cancelled", so whoever keeps
        the queue (the server's database) runs it again; a queued job stays queued."""
        with self._lock:
            self.interrupted = True
        self.cancel_event.set()

    # The worker's side -------------------------------------------------------------------------

    def start(self) -> bool:
        """Mark running; False when the job was cancelled while it waited."""
        with self._lock:
            if self._status.state != "queued":
                return False
            self._set(state="running", started=time.time())
            return True

    def requeue(self) -> bool:
        """Back to "queued" after its worker was lost (a remote runner retries it); False when it
        no longer runs (cancelled meanwhile)."""
        with self._lock:
            if self._status.state != "running":
                return False
            self._steady_start = None  # the ETA is measured on this attempt's steps only
            self._set(state="queued", phase=None, step=0, total=0, message="", progress=0.0, eta_seconds=None,
                      started=None)
            return True

    def report(self, event: Progress) -> None:
        """The pipeline's progress callback."""
        with self._lock:
            status = self._status
            lo, hi = PHASE_SPANS.get(event.phase, (status.progress, status.progress))
            fraction = max(status.progress, min(1.0, lo + (hi - lo) * event.fraction))
            self._set(phase=event.phase, step=event.step, total=event.total, message=event.message,
                      progress=fraction, eta_seconds=self._eta(event, status.eta_seconds))

    def finish(self, state: State, result: AnyResult | None = None, error: BaseException | None = None) -> None:
        with self._lock:
            self.exception = error
            self._set(state=state, result=result, error=None if error is None else JobError.of(error),
                      eta_seconds=None, finished=time.time(), progress=1.0 if state == "succeeded" else
                      self._status.progress)

    def _eta(self, event: Progress, previous: float | None) -> float | None:
        """Remaining denoising (or extraction) steps times the seconds per step measured so far."""
        if event.phase not in ETA_PHASES:
            return previous
        now = time.monotonic()
        if self._steady_start is None:
            self._steady_start = (now, event.step)
            return previous
        start, first = self._steady_start
        if event.step <= first:
            return previous
        return (now - start) / (event.step - first) * (event.total - event.step)

    def _set(self, **changes: Any) -> None:
        self._status = replace(self._status, **changes)
        self._changed.notify_all()
        for listener in list(self._listeners):
            try:
                listener(self._status)
            except Exception:  # a broken listener must not break the job
                log.exception("listener of job %s failed", self.id)


class Pipeline(Protocol):
    """What the runner needs of a loaded model (the engine's ``ScailPipeline`` is one)."""

    loaded: bool

    def generate(self, job: Job, on_progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None) -> JobResult: ...

    def release(self) -> None: ...


PipelineFactory = Callable[[Path, str | None], Pipeline]

Extractor = Callable[[ExtractJob, Callable[[Progress], None], threading.Event], ExtractResult]


def scail_extractor(job: ExtractJob, on_progress: Callable[[Progress], None],
                    cancel: threading.Event) -> ExtractResult:
    from .extraction import run_extraction  # onnxruntime and torch load only when a job really runs

    return run_extraction(job, on_progress, cancel)


class LocalRunner:
    """Runs jobs one at a time on one device; the loaded model stays between jobs.

    ``checkpoint`` may be None for a runner that only extracts motion (Blender without SCAIL).
    Whoever starts a runner that generates passes ``pipeline_factory`` (the engine's
    ``ScailPipeline``, or a stand-in in tests): this package never imports the engine, so a
    runner that is only ever asked to extract, or a client, loads no torch.
    """

    def __init__(self, checkpoint: str | Path | None, device: str | None = None, *,
                 pipeline_factory: PipelineFactory | None = None, extractor: Extractor = scail_extractor) -> None:
        if checkpoint is not None and pipeline_factory is None:
            raise ValueError("a runner with a checkpoint needs the pipeline_factory that loads it")
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.device = device
        self._factory = pipeline_factory
        self._extractor = extractor
        self._queue: queue.Queue[JobHandle | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pipeline: Pipeline | None = None
        self._running: JobHandle | None = None
        self._stopping = False
        self._release_after = False
        self._thread = threading.Thread(target=self._work, name=f"scail-runner-{device or 'auto'}", daemon=True)
        self._thread.start()

    def submit(self, job: AnyJob, job_id: str | None = None, listener: Listener | None = None) -> JobHandle:
        """Queue ``job``; ``listener`` is subscribed before the job can start, so it misses nothing."""
        job.validate()  # bad values fail now, not after minutes of loading
        handle = JobHandle(job, job_id)
        if listener is not None:
            handle.subscribe(listener)
        self._queue.put(handle)
        return handle

    @property
    def running(self) -> JobHandle | None:
        with self._lock:
            return self._running

    @property
    def loaded(self) -> bool:
        with self._lock:
            return self._pipeline is not None and self._pipeline.loaded

    def use_checkpoint(self, checkpoint: str | Path) -> None:
        """Load ``checkpoint`` for the next generation; the model of the old one is freed now when
        idle, else right after the running job. The caller sees that no generation is queued."""
        with self._lock:
            self.checkpoint = Path(checkpoint)
            if self._running is None:
                self._drop_pipeline()
            else:
                self._release_after = True

    def release(self) -> bool:
        """Free the model now when idle (True), else right after the running job (False)."""
        with self._lock:
            if self._running is not None:
                self._release_after = True
                return False
            self._drop_pipeline()
            return True

    def close(self, timeout: float | None = None) -> None:
        """Stop the worker after the jobs already queued (after the running one, once ``stop`` was called)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def stop(self) -> None:
        """The process is stopping: the running job is interrupted (back to "queued" after its current
        step, see ``JobHandle.interrupt``) and no queued job starts any more; ``close`` then waits."""
        with self._lock:
            self._stopping = True
            running = self._running
        if running is not None:
            running.interrupt()
        self._queue.put(None)  # an idle worker wakes up and ends

    def _work(self) -> None:
        while (handle := self._queue.get()) is not None:
            with self._lock:  # with ``stop``: a job either starts before it (and is interrupted) or never
                if self._stopping:
                    return
                self._running = handle
            if not handle.start():
                with self._lock:
                    self._running = None
                continue  # cancelled while queued
            state, result, error = self._run(handle)
            with self._lock:
                self._running = None
                if self._release_after:
                    self._drop_pipeline()
            if state == "cancelled" and handle.interrupted:
                handle.requeue()
                log.info("job %s interrupted by the stop; queued again", handle.id)
            else:
                handle.finish(state, result, error)

    def _run(self, handle: JobHandle) -> tuple[State, AnyResult | None, BaseException | None]:
        try:
            return "succeeded", self._execute(handle), None
        except Cancelled:
            if not handle.interrupted:
                log.info("job %s cancelled", handle.id)
            return "cancelled", None, None
        except ScailError as exc:
            log.warning("job %s failed: %s", handle.id, exc)
            return "failed", None, exc
        except Exception as exc:  # one job fails; the queue keeps serving
            if out_of_space(exc):  # not a bug: no traceback
                log.warning("job %s failed: the disk is full (%s)", handle.id, exc)
            else:
                log.exception("job %s failed", handle.id)
            return "failed", None, exc

    def _execute(self, handle: JobHandle) -> AnyResult:
        job = handle.job
        if isinstance(job, ExtractJob):
            if job.settings.device == "auto" and self.device is not None:
                job = replace(job, settings=replace(job.settings, device=self.device))
            return self._extractor(job, handle.report, handle.cancel_event)
        if self.checkpoint is None:
            raise InputError("this runner has no SCAIL checkpoint, so it only extracts motion; set the checkpoint "
                             "folder (scail generate --checkpoint, or the add-on preferences) to generate")
        if self._pipeline is None:
            assert self._factory is not None  # __init__ refuses a checkpoint without one
            self._pipeline = self._factory(self.checkpoint, self.device)
        return self._pipeline.generate(job, handle.report, handle.cancel_event)

    def _drop_pipeline(self) -> None:
        """With the lock held and no job running."""
        self._release_after = False
        if self._pipeline is not None:
            self._pipeline.release()
            self._pipeline = None
            log.info("released the model on %s", self.device or "the default device")
