"""Footage blacked out outside the people of its SCAIL-2 driving mask (end-to-end driving and
replacement plates), through real ffmpeg files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scail_blender.cli import main
from scail_blender.errors import InputError
from scail_blender.media.video import VideoWriter, read_video, write_video
from scail_blender.pose.footage import black_out_video, people_pixels
from scail_blender.pose.identity import PALETTE, background

H, W, T = 48, 64, 5


def footage(path: Path, frames: int = T) -> np.ndarray:
    """Smooth, bright, moving gradients (H.264 keeps them within a few levels)."""
    y, x = np.mgrid[0:H, 0:W]
    clip = np.stack([np.stack([(x * 3 + t * 10) % 200 + 40, (y * 4) % 200 + 40, np.full((H, W), 120 + t * 5)], -1)
                     for t in range(frames)]).astype(np.uint8)
    write_video(list(clip), path, 16)
    return clip


def mask(path: Path, mode: str) -> np.ndarray:
    """Two people (blue left, red right) on the mode's driving background, written losslessly."""
    frame = np.empty((H, W, 3), np.uint8)
    frame[:] = background(mode, "driving")
    frame[8:40, 6:22] = PALETTE[0]
    frame[12:44, 36:58] = PALETTE[1]
    with VideoWriter(path, 16, (H, W), lossless=True) as writer:
        for _ in range(T):
            writer.write(frame)
    return (frame != background(mode, "driving")).any(axis=-1)


def test_people_are_the_identity_colours_as_the_model_reads_them() -> None:
    pixels = np.array([[c for c in PALETTE] + [(0, 0, 0), (255, 255, 255), (230, 240, 12), (240, 200, 200),
                                               (200, 200, 200)]], np.uint8)
    assert people_pixels(pixels).tolist() == [[True] * len(PALETTE) + [False, False, True, True, False]]


@pytest.mark.parametrize("mode", ["animation", "replacement"])
def test_footage_is_black_outside_the_people_in_both_modes(tmp_path: Path, mode: str) -> None:
    clip = footage(tmp_path / "footage.mp4")
    people = mask(tmp_path / "mask.mp4", mode)
    assert black_out_video(tmp_path / "footage.mp4", tmp_path / "mask.mp4", tmp_path / "out.mp4") == T
    out = np.stack(list(read_video(tmp_path / "out.mp4"))).astype(int)
    assert out.shape == (T, H, W, 3)
    # Away from the people's edges (H.264 blurs a block or so), outside is black, inside the footage.
    inner = np.zeros_like(people)
    inner[12:36, 10:18] = inner[16:40, 40:54] = True
    far = np.ones_like(people)
    for dy in range(-4, 5):
        for dx in range(-4, 5):
            far &= ~np.roll(np.roll(people, dy, 0), dx, 1)
    assert far.sum() > H * W // 4
    # yuv420 chroma smears colour a few pixels: bound the mean tightly and the worst pixel loosely
    # (the footage there is 40 to 240).
    assert out[:, far].mean() <= 2 and out[:, far].max() <= 24
    assert np.abs(out[:, inner] - clip[:, inner].astype(int)).mean() <= 4


def test_a_mask_of_another_clip_is_refused_and_nothing_written(tmp_path: Path) -> None:
    footage(tmp_path / "footage.mp4", frames=T + 2)
    mask(tmp_path / "mask.mp4", "animation")
    with pytest.raises(InputError, match="7 frames at 16 fps but the mask .* 5 at 16 fps"):
        black_out_video(tmp_path / "footage.mp4", tmp_path / "mask.mp4", tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_the_command_writes_the_driving_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    footage(tmp_path / "footage.mp4")
    mask(tmp_path / "mask.mp4", "replacement")
    assert main(["black-out", str(tmp_path / "footage.mp4"), "--mask", str(tmp_path / "mask.mp4"),
                 "--out", str(tmp_path / "driving.mp4")]) == 0
    assert "wrote" in capsys.readouterr().out and len(list(read_video(tmp_path / "driving.mp4"))) == T
    assert main(["black-out", str(tmp_path / "footage.mp4"), "--mask", str(tmp_path / "mask.mp4"),
                 "--out", str(tmp_path / "mask.mp4")]) != 0  # an output that is an input
