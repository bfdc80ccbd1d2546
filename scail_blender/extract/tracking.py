"""Stable person ids across frames from per-frame NLF people.

Detections carry no identity. Each track predicts its body centre (mean of the 24 joints, mm)
at constant velocity for a few frames after it was last seen, then holds its last place; a
frame's detections are matched to tracks by the least total 3D distance (Hungarian). Tracks are
never dropped: a person who leaves and comes back within ``REENTRY_MM`` of where they were lost
keeps their id. People crossing in the picture are usually metres apart in depth, which is
why the distance is measured in 3D and not between 2D boxes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

LIVE_GATE_MM = 1000.0  # a tracked person moves less than this between two frames
REENTRY_MM = 3000.0    # a lost person comes back within this of their last place
COAST_FRAMES = 5       # frames a lost track keeps moving at its last velocity
_BLOCKED = 1e12


@dataclass
class Track:
    id: int
    centre: np.ndarray
    frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    frames_seen: int = 1
    area: float = 0.0

    def predict(self, frame: int) -> np.ndarray:
        gap = frame - self.frame
        return self.centre + self.velocity * min(gap, COAST_FRAMES)

    def update(self, centre: np.ndarray, frame: int, area: float) -> None:
        gap = frame - self.frame
        self.velocity = (centre - self.centre) / gap if gap <= COAST_FRAMES else np.zeros(3)
        self.centre, self.frame = centre, frame
        self.frames_seen += 1
        self.area += area


class Tracker:
    """Online: ``step(frame, centres, areas)`` returns the track id of each detection."""

    def __init__(self) -> None:
        self.tracks: list[Track] = []

    def step(self, frame: int, centres: list[np.ndarray], areas: list[float]) -> list[int]:
        from scipy.optimize import linear_sum_assignment

        ids = [-1] * len(centres)
        if self.tracks and centres:
            cost = np.full((len(self.tracks), len(centres)), _BLOCKED)
            for i, track in enumerate(self.tracks):
                gate = LIVE_GATE_MM if frame - track.frame == 1 else REENTRY_MM
                for j, c in enumerate(centres):
                    d = float(np.linalg.norm(track.predict(frame) - c))
                    if d <= gate:
                        cost[i, j] = d
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                if cost[i, j] < _BLOCKED:
                    self.tracks[i].update(centres[j], frame, areas[j])
                    ids[j] = self.tracks[i].id
        for j, c in enumerate(centres):
            if ids[j] < 0:
                track = Track(id=len(self.tracks), centre=c, frame=frame, area=areas[j])
                self.tracks.append(track)
                ids[j] = track.id
                log.debug("frame %d: new person %d", frame, track.id)
        return ids

    def ranking(self, limit: int | None = None) -> list[int]:
        """Track ids, most seen first (then larger on screen), at most ``limit`` of them."""
        order = sorted(self.tracks, key=lambda t: (-t.frames_seen, -t.area / t.frames_seen, t.id))
        return [t.id for t in order[:limit]]
