"""One-Euro filtering of point tracks (Casiez et al. 2012), off unless asked for.

The official pipeline applies no temporal smoothing; NLF jitter is a few millimetres, visible
on hands held still. The filter adapts its cut-off to speed, so slow parts are smoothed and
fast moves are not delayed. Each present run of a person is filtered on its own: a gap resets it.
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)

MIN_CUTOFF_HZ = 1.0
BETA = 0.01          # per mm/s: cut-off grows by 10 Hz at 1 m/s
DERIVATIVE_CUTOFF_HZ = 1.0


def _alpha(cutoff: np.ndarray | float, rate: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau * rate)


def one_euro(points: np.ndarray, present: np.ndarray, fps: float, min_cutoff: float = MIN_CUTOFF_HZ,
             beta: float = BETA) -> np.ndarray:
    """``points`` [T, P, ..., 3] filtered along time where ``present`` [T, P]; zeros (missing
    points) are left as they are and restart that point's filter."""
    out = np.array(points, np.float64)
    frames, people = out.shape[:2]
    for p in range(people):
        value = derivative = None
        for t in range(frames):
            if not present[t, p]:
                value = None
                continue
            x = out[t, p]
            if value is None:
                value, derivative = x.copy(), np.zeros_like(x)
                continue
            known = np.any(value != 0, axis=-1, keepdims=True) & np.any(x != 0, axis=-1, keepdims=True)
            dx = (x - value) * fps
            derivative = derivative + _alpha(DERIVATIVE_CUTOFF_HZ, fps) * (dx - derivative)
            speed = np.linalg.norm(derivative, axis=-1, keepdims=True)
            a = _alpha(min_cutoff + beta * speed, fps)
            value = np.where(known, value + a * (x - value), x)
            derivative = np.where(known, derivative, 0.0)
            out[t, p] = value
    return out.astype(np.float32)
