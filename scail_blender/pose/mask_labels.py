"""Mask labels made in a thread of their own while the scene is still being read.

Reading a frame needs Blender's main thread; rasterising its triangles does not, and for dense
meshes it costs more than the read. So the main thread hands each frame's work (a function of
plain arrays) to ``LabelWorker`` and goes on; a short backlog bounds the memory the waiting
triangles take, and ``ready`` tells a time-sliced reader to give the window back instead of
waiting. The labels come out in frame order, to the encoder that waits for them. ``finish``
(all frames queued) or ``stop`` (cancel, failure) ends the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import numpy as np

from ..errors import Cancelled
from .silhouettes import LabelFrames

BACKLOG = 2  # frames of triangles waiting at most


class LabelWorker:
    """Runs ``total`` frame jobs in order in one thread; iterating yields their label frames,
    waiting for each. A job's error is raised to the next ``put`` and to the iterating reader."""

    def __init__(self, size: tuple[int, int], total: int, layers: int = 1) -> None:
        self.total = int(total)
        self._frames = LabelFrames(size, layers)
        self._jobs: queue.Queue = queue.Queue(maxsize=BACKLOG)
        self._changed = threading.Condition()
        self._error: BaseException | None = None
        self._stopped = threading.Event()
        # Started by the first frame, so a render that never reads one leaves no thread behind.
        self._thread = threading.Thread(target=self._run, name="scail-mask-labels", daemon=True)

    @property
    def ready(self) -> bool:
        """Whether ``put`` would return at once."""
        return not self._jobs.full()

    def put(self, job: Callable[[], np.ndarray]) -> None:
        """Queue the next frame's job (waits while the backlog is full)."""
        if self._error is not None:
            raise self._error
        if self._thread.ident is None:
            self._thread.start()
        self._jobs.put(job)

    def finish(self) -> None:
        """Every frame's job is queued: the thread ends after the last one."""
        self._jobs.put(None)

    def stop(self) -> None:
        """Give up (cancel, failure elsewhere): the thread ends after its current job and a
        waiting reader raises Cancelled."""
        self._stopped.set()
        with self._changed:
            self._changed.notify_all()
        try:
            self._jobs.put_nowait(None)
        except queue.Full:
            pass  # the thread sees the stop when it takes its next job

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._stopped.is_set():
                return
            if self._error is not None:
                continue  # keep taking jobs so a waiting put never blocks for ever
            try:
                labels = job()
            except BaseException as exc:  # handed to the reader and the next put
                self._error = exc
            else:
                self._frames.append(labels)
            with self._changed:
                self._changed.notify_all()

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(self.total):
            with self._changed:
                self._changed.wait_for(lambda wanted=index: len(self._frames) > wanted or self._error is not None
                                       or self._stopped.is_set())
            if self._error is not None:
                raise self._error
            if len(self._frames) <= index:
                raise Cancelled("The mask was cancelled; nothing was written.")
            yield self._frames.frame(index)

    def layer(self, index: int) -> Layer:
        """One layer of every frame (the worker made with ``layers`` above 1), read on its own:
        the mask and the mesh driving video each take theirs from the same frames."""
        return Layer(self, index)


class Layer:
    """``LabelWorker.layer``: a sized, re-iterable stream of one layer of the worker's frames."""

    def __init__(self, worker: LabelWorker, index: int) -> None:
        self.worker = worker
        self.index = index

    def __len__(self) -> int:
        return len(self.worker)

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.worker:
            yield frame[self.index]
