"""Tracking alone: crossing at close depths (prediction keeps ids), leaving and coming back."""

from __future__ import annotations

import numpy as np

from scail_blender.extract.tracking import Tracker


def test_close_crossing_keeps_ids() -> None:
    tracker = Tracker()
    ids = []
    for t in range(20):
        a = np.array([-1500.0 + 150 * t, 0, 3000])   # walks right
        b = np.array([1500.0 - 150 * t, 0, 3400])    # walks left, 40 cm behind
        order = [b, a] if t % 2 else [a, b]          # detection order means nothing
        got = tracker.step(t, order, [1.0, 1.0])
        ids.append(got if t % 2 == 0 else got[::-1])
    assert all(pair == ids[0] for pair in ids) and len(tracker.tracks) == 2


def test_reentry_and_ranking() -> None:
    tracker = Tracker()
    for t in range(30):
        people = [np.array([0.0, 0, 4000])]
        if not 10 <= t < 20:
            people.append(np.array([-2000.0 + (50 * t if t < 10 else 0), 0, 3000]))
        tracker.step(t, people, [1.0] * len(people))
    assert len(tracker.tracks) == 2   # the one who left came back as themselves
    assert tracker.ranking() == [0, 1] and tracker.ranking(1) == [0]
    far = tracker.step(30, [np.array([0.0, 0, 4000]), np.array([5000.0, 0, 9000])], [1.0, 1.0])
    assert far == [0, 2]              # someone far from every lost person is new
