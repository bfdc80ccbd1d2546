"""Sequencer placement with real ffmpeg-encoded clips in the bpy module (fresh process each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scail_blender.media.video import VideoWriter

from tests.support import run_script


def write_clip(path: Path, frames: int, fps: float) -> Path:
    with VideoWriter(path, fps, (32, 64)) as video:
        for k in range(frames):
            video.write(np.full((32, 64, 3), 10 * k, np.uint8))
    return path


@pytest.mark.oldest_blender
def test_strip_lands_on_free_channel_and_replaces_its_old_copy(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "pose.24fps.mp4", 12, 24)
    other = write_clip(tmp_path / "other.mp4", 30, 24)
    result = run_script(Path(__file__).resolve().parent / "scripts" / "sequencer_place.py",
                        {"clip": str(clip), "other": str(other)})
    assert result["first"] == [2, 10, 12]  # channel 1 is busy over frames 1-30
    assert result["again"] == [1, 40, 12, 2]  # frames 40-51 are free on channel 1; old copy removed
    assert result["prefetch"] is True  # restored after the change
