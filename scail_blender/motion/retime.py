"""Change a motion's frame rate by interpolating in time.

SCAIL works at 16 fps while footage and scenes run at 24, 25 or 30: a pose video must show the
motion at its real speed, so frames are resampled at the new rate rather than relabelled.
People are interpolated only between two frames where they are both present; otherwise the
nearest source frame is used, so a person never slides in from the origin. Detected 2D
keypoints are taken from the nearest source frame: they are what a detector saw, not to be blended.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import InputError
from .model import Motion


def retimed_length(frames: int, fps_in: float, fps_out: float) -> int:
    """Frames at ``fps_out`` that cover the same duration as ``frames`` at ``fps_in``."""
    return max(1, math.floor((frames - 1) * fps_out / fps_in + 1e-6) + 1)


def sample_grid(frames: int, fps_in: float, fps_out: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each frame at ``fps_out``: the source frames before and after it and the weight of the
    later one, so everything resampled (joints here, rig rotations elsewhere) shares one grid."""
    position = np.arange(retimed_length(frames, fps_in, fps_out)) * (fps_in / fps_out)
    lower = np.minimum(np.floor(position).astype(int), frames - 1)
    upper = np.minimum(lower + 1, frames - 1)
    return lower, upper, (position - lower).astype(np.float32)


def retime(motion: Motion, fps: float) -> Motion:
    """``motion`` sampled at ``fps`` (linear in time; identity when the rate is unchanged)."""
    if not math.isfinite(fps) or fps <= 0:
        raise InputError(f"Frame rate {fps!r} is not usable: give a positive number, e.g. 16")
    if abs(fps - motion.fps) < 1e-9:
        return motion
    lower, upper, weight = sample_grid(motion.frames, motion.fps, fps)

    present = motion.present()
    both = present[lower] & present[upper]
    nearest = np.where(weight[:, None] < 0.5, lower[:, None], upper[:, None])

    def sample(array: np.ndarray | None) -> np.ndarray | None:
        if array is None:
            return None
        w = weight.reshape((-1,) + (1,) * (array.ndim - 1))
        blended = array[lower] * (1 - w) + array[upper] * w
        people = np.arange(array.shape[1])
        snapped = array[nearest, people[None, :]]
        mask = both.reshape(both.shape + (1,) * (array.ndim - 2))
        return np.where(mask, blended, snapped).astype(np.float32)

    frames = np.where(weight < 0.5, lower, upper)
    smpl = motion.smpl
    if smpl is not None:
        # Axis-angle vectors do not interpolate linearly; take the nearest frame's parameters.
        smpl = dataclasses.replace(smpl, pose=smpl.pose[frames], betas=smpl.betas[frames], trans=smpl.trans[frames])
    return dataclasses.replace(
        motion,
        joints=sample(motion.joints),
        hands=sample(motion.hands),
        head_marks=sample(motion.head_marks),
        face=sample(motion.face),
        smpl=smpl,
        keypoints2d=None if motion.keypoints2d is None else motion.keypoints2d[frames],
        fps=float(fps),
    )
