"""Frame-rate arithmetic between the scene and the pose video.

SCAIL works at 16 fps while scenes usually run at 24, 25 or 30. The pose video samples the
animation at its own rate (sub-frame times in the scene), and the Sequencer copy repeats pose
frames at the scene rate so that its strip lasts exactly as long as the frame range: no drift.
"""

from __future__ import annotations

import math

EPS = 1e-6


def pose_frame_count(frame_start: int, frame_end: int, scene_fps: float, fps: float) -> int:
    """Pose frames whose sample time falls inside the scene range (both ends included)."""
    span = frame_end - frame_start
    return math.floor(span * fps / scene_fps + EPS) + 1


def sample_times(frame_start: int, frame_end: int, scene_fps: float, fps: float) -> list[float]:
    """Scene times (in frames, possibly fractional) at which each pose frame is sampled."""
    step = scene_fps / fps
    return [frame_start + k * step for k in range(pose_frame_count(frame_start, frame_end, scene_fps, fps))]


def split_time(time: float) -> tuple[int, float]:
    """(frame, subframe) for ``scene.frame_set``; snaps times within EPS of a whole frame."""
    frame = math.floor(time + EPS)
    sub = time - frame
    return frame, (0.0 if sub < EPS else sub)


def scene_rate_indices(frame_start: int, frame_end: int, scene_fps: float, fps: float) -> list[int]:
    """For each scene frame of the range, the pose frame on screen at that moment."""
    count = pose_frame_count(frame_start, frame_end, scene_fps, fps)
    return [min(count - 1, math.floor(j * fps / scene_fps + EPS)) for j in range(frame_end - frame_start + 1)]
