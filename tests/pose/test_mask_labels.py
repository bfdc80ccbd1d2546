"""The mask labels' own thread: frames in order while the reader waits, a bounded backlog, errors
and stops reach both sides instead of hanging them."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from scail_blender.errors import Cancelled
from scail_blender.pose.mask_labels import BACKLOG, LabelWorker

SIZE = (4, 6)


def frame(k: int) -> np.ndarray:
    return np.full(SIZE, k % 3 - 1, np.int32)


def test_frames_come_out_in_order_while_they_are_made() -> None:
    worker = LabelWorker(SIZE, 5)
    out: list[np.ndarray] = []
    reader = threading.Thread(target=lambda: out.extend(worker))
    reader.start()  # waits for frames that are not queued yet
    for k in range(5):
        worker.put(lambda k=k: frame(k))
    worker.finish()
    reader.join(timeout=30)
    assert not reader.is_alive() and len(worker) == 5
    assert all(np.array_equal(a, frame(k)) for k, a in enumerate(out))


def test_the_backlog_is_bounded() -> None:
    gate = threading.Event()
    worker = LabelWorker(SIZE, BACKLOG + 2)
    worker.put(lambda: (gate.wait(30), frame(0))[1])  # the thread is busy with this one
    for k in range(BACKLOG):
        worker.put(lambda k=k: frame(k))
    assert not worker.ready
    gate.set()
    worker.put(lambda: frame(9))  # waits for room, then goes in
    worker.finish()
    assert len(list(worker)) == BACKLOG + 2


def test_a_failed_frame_reaches_the_reader_and_the_next_put() -> None:
    worker = LabelWorker(SIZE, 3)

    def broken() -> np.ndarray:
        raise ValueError("bad triangles")

    worker.put(lambda: frame(0))
    worker.put(broken)
    with pytest.raises(ValueError, match="bad triangles"):
        list(worker)
    with pytest.raises(ValueError, match="bad triangles"):
        worker.put(lambda: frame(2))
    worker.stop()


def test_stop_ends_a_waiting_reader() -> None:
    worker = LabelWorker(SIZE, 3)
    worker.put(lambda: frame(0))
    result: list[BaseException] = []

    def read() -> None:
        try:
            list(worker)
        except Cancelled as exc:
            result.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    worker.stop()
    reader.join(timeout=30)
    assert not reader.is_alive() and len(result) == 1


def test_two_readers_each_stream_their_layer_of_the_same_frames() -> None:
    """Mesh driving: the mask and the driving video read the labels and the greys of one worker,
    each at its own pace, while the frames are still being made."""
    worker = LabelWorker(SIZE, 3, layers=2)
    labels, greys = worker.layer(0), worker.layer(1)
    out: dict[int, list[np.ndarray]] = {0: [], 1: []}
    readers = [threading.Thread(target=lambda k=k, layer=layer: out[k].extend(layer))
               for k, layer in enumerate((labels, greys))]
    for reader in readers:
        reader.start()
    for k in range(3):
        worker.put(lambda k=k: np.stack([frame(k), frame(k) + 100]))
    worker.finish()
    for reader in readers:
        reader.join(timeout=30)
    assert len(labels) == len(greys) == 3
    assert all(np.array_equal(a, frame(k)) for k, a in enumerate(out[0]))
    assert all(np.array_equal(a, frame(k) + 100) for k, a in enumerate(out[1]))
