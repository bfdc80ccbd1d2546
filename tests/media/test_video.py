"""Video io on real ffmpeg-encoded files: round trips, exact PNGs, nothing partial left behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from scail_blender.errors import InputError, ScailError, VideoError
from scail_blender.media import video


def ramp_frames(count: int, size: tuple[int, int] = (64, 96)) -> list[np.ndarray]:
    """Flat colours that change per frame: easy to recognise after lossy coding."""
    return [np.full((*size, 3), (20 * i, 255 - 20 * i, 128), np.uint8) for i in range(count)]


def test_mp4_round_trip_keeps_count_size_fps_and_colour(tmp_path: Path) -> None:
    frames = ramp_frames(9)
    out = tmp_path / "clip.mp4"
    assert video.write_video(iter(frames), out, fps=16) == 9
    info = video.probe_video(out)
    assert (info.width, info.height, info.frames) == (96, 64, 9)
    assert info.fps == pytest.approx(16)
    decoded = list(video.read_video(out))
    assert len(decoded) == 9
    for original, back in zip(frames, decoded):
        assert np.abs(original.astype(int) - back.astype(int)).mean() < 3


def test_fractional_frame_rate_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "ntsc.mp4"
    video.write_video(ramp_frames(3), out, fps=24000 / 1001)
    assert video.probe_video(out).fps == pytest.approx(23.976, abs=0.01)


def test_png_sequence_replaces_only_the_frames_it_writes(tmp_path: Path) -> None:
    """A frame past the clip may be the user's: it stays, byte for byte (the output policy
    decides beforehand whether the folder may be written at all)."""
    frames = ramp_frames(5)
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    (frames_dir / "00007.png").write_bytes(b"a frame this run did not make")
    video.write_video(iter(frames), tmp_path / "clip.mp4", fps=16, frames_dir=frames_dir)
    names = sorted(p.name for p in frames_dir.iterdir())
    assert names == [f"{i:05d}.png" for i in range(5)] + ["00007.png"]
    assert (frames_dir / "00007.png").read_bytes() == b"a frame this run did not make"
    for original, back in zip(frames, video.read_video(frames_dir)):
        np.testing.assert_array_equal(original, back)


def test_failure_mid_clip_leaves_no_partial_files(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    frames_dir = tmp_path / "frames"

    def frames_then_crash():
        yield from ramp_frames(3)
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        video.write_video(frames_then_crash(), out, fps=16, frames_dir=frames_dir)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], "the frames folder this run made is gone again"


def test_existing_output_survives_a_failed_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    video.write_video(ramp_frames(2), out, fps=16)
    before = out.read_bytes()
    with pytest.raises(InputError):
        video.write_video([np.zeros((64, 96, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)], out, fps=16)
    assert out.read_bytes() == before


def test_folder_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ScailError, match="cannot create the output folder"):
        video.write_video(ramp_frames(1), blocker / "sub" / "clip.mp4", fps=16)


def test_odd_size_and_bad_fps_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="even height and width"):
        video.write_video(ramp_frames(1, size=(63, 96)), tmp_path / "odd.mp4", fps=16)
    with pytest.raises(InputError, match="Frame rate"):
        video.write_video(ramp_frames(1), tmp_path / "x.mp4", fps=0)
    with pytest.raises(InputError, match="no frames"):
        video.write_video(iter([]), tmp_path / "x.mp4", fps=16)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_and_truncated_videos_are_clear_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(VideoError, match="not a readable video"):
        video.probe_video(garbage)
    good = tmp_path / "good.mp4"
    video.write_video(ramp_frames(16, size=(128, 128)), good, fps=16)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(VideoError):
        list(video.read_video(truncated))
    with pytest.raises(VideoError, match="does not exist"):
        video.probe_video(tmp_path / "missing.mp4")
