"""One pass writes the SCAIL-rate video, the scene-rate copy and PNGs, all or nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from scail_blender.errors import Cancelled, ScailError
from scail_blender.pose.outputs import strip_video_path, write_pose_files
from scail_blender.media.video import probe_video, read_video
from scail_blender.timing import pose_frame_count, scene_rate_indices

SIZE = (64, 96)


def numbered_frames(count: int):
    """Frames whose brightness encodes their index, so decoded order can be checked."""
    for k in range(count):
        yield np.full((*SIZE, 3), 20 * k + 10, np.uint8)


def test_scene_copy_repeats_pose_frames_at_scene_rate(tmp_path: Path) -> None:
    start, end, scene_fps, fps = 1, 12, 24.0, 16.0
    total = pose_frame_count(start, end, scene_fps, fps)
    indices = scene_rate_indices(start, end, scene_fps, fps)
    video = tmp_path / "pose.mp4"
    strip = strip_video_path(video, scene_fps)
    files = write_pose_files(numbered_frames(total), SIZE, fps, video, total=total,
                             strip=(strip, scene_fps, indices), frames_dir=tmp_path / "frames")
    assert files.frames == total == 8 and files.strip_frames == 12
    info, copy_info = probe_video(video), probe_video(strip)
    assert (info.frames, info.fps, info.width, info.height) == (8, 16.0, 96, 64)
    assert (copy_info.frames, copy_info.fps) == (12, 24.0)
    shown = [int(round((f.mean() - 10) / 20)) for f in read_video(strip)]
    assert shown == indices
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"{k:05d}.png" for k in range(8)]


def test_cancel_leaves_no_output(tmp_path: Path) -> None:
    cancel = threading.Event()

    def progress(event) -> None:
        if event.step == 3:
            cancel.set()

    video = tmp_path / "pose.mp4"
    with pytest.raises(Cancelled):
        write_pose_files(numbered_frames(9), SIZE, 16, video, total=9,
                         strip=(tmp_path / "pose.24fps.mp4", 24, list(range(9))),
                         frames_dir=tmp_path / "frames", progress=progress, cancel=cancel)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


def test_later_failure_removes_already_committed_files(tmp_path: Path) -> None:
    """When the scene copy cannot be put in place, the videos already committed go away again and
    the PNGs, which commit last, never arrive."""
    video = tmp_path / "pose.mp4"
    blocker = tmp_path / "copy.mp4"
    blocker.mkdir()
    (blocker / "keep").write_text("a folder where the copy should go makes its final rename fail")
    with pytest.raises(ScailError, match="choose another file name"):
        write_pose_files(numbered_frames(3), SIZE, 16, video, total=3,
                         strip=(blocker, 24, [0, 1, 2]), frames_dir=tmp_path / "frames")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [blocker / "keep"]
