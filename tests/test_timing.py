"""Frame-rate arithmetic: the pose video samples the right scene times and the scene-rate copy
lasts exactly the frame range."""

from __future__ import annotations

import pytest

from scail_blender.timing import pose_frame_count, sample_times, scene_rate_indices, split_time


def test_same_rate_is_one_to_one() -> None:
    assert sample_times(1, 9, 16, 16) == [float(f) for f in range(1, 10)]
    assert scene_rate_indices(1, 9, 16, 16) == list(range(9))


def test_one_second_at_24_gives_16_pose_frames() -> None:
    times = sample_times(1, 24, 24, 16)
    assert len(times) == 16
    assert times[:4] == [1.0, 2.5, 4.0, 5.5]
    assert times[-1] <= 24


@pytest.mark.parametrize("scene_fps", [24, 25, 30, 23.976])
def test_scene_copy_covers_range_and_keeps_time(scene_fps: float) -> None:
    start, end, fps = 10, 130, 16
    idx = scene_rate_indices(start, end, scene_fps, fps)
    assert len(idx) == end - start + 1
    assert idx[0] == 0 and idx[-1] == pose_frame_count(start, end, scene_fps, fps) - 1
    assert all(b - a in (0, 1) for a, b in zip(idx, idx[1:]))
    times = sample_times(start, end, scene_fps, fps)
    for j, k in enumerate(idx):  # the pose frame shown was sampled at or just before this moment
        assert times[k] <= start + j + 1e-6 < times[k] + scene_fps / fps


def test_split_time_snaps_float_noise() -> None:
    assert split_time(4.0000000001) == (4, 0.0)
    assert split_time(3.9999999999) == (4, 0.0)
    frame, sub = split_time(2.5)
    assert (frame, round(sub, 6)) == (2, 0.5)
