"""``scail render-pose --motion``: real files in, real H.264 out, reproducible from --joints-out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scail_blender.cli import main
from scail_blender.motion.model import Motion, load_motion_npz, save_motion_npz
from scail_blender.media import video
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.framing import cover_crop

# A standing person (SMPL order, mm, camera space, 3 m in front of the camera).
STANDING = np.array([
    [0, 0, 0], [90, 80, 0], [-90, 80, 0], [0, -110, 0], [95, 480, 20], [-95, 480, 20],
    [0, -230, 0], [100, 880, 0], [-100, 880, 0], [0, -290, 0], [100, 930, -90], [-100, 930, -90],
    [0, -480, 0], [70, -430, 0], [-70, -430, 0], [0, -560, 10], [170, -430, 0], [-170, -430, 0],
    [260, -190, 40], [-260, -190, 40], [300, 40, 80], [-300, 40, 80], [310, 120, 90], [-310, 120, 90],
], np.float32) + np.array([0, 0, 3000], np.float32)


def walking_motion(frames: int = 6, fps: float = 16.0) -> Motion:
    joints = np.repeat(STANDING[None, None], frames, axis=0).copy()
    joints[..., 0] += np.linspace(-300, 300, frames, dtype=np.float32)[:, None, None]
    return Motion(joints=joints, fps=fps, image_size=(128, 224))


def run_cli(*args: str) -> int:
    return main(list(args))


def test_renders_mp4_and_the_same_frames_as_png(tmp_path: Path) -> None:
    motion_path = tmp_path / "walk.npz"
    save_motion_npz(walking_motion(), motion_path)
    out, frames = tmp_path / "pose.mp4", tmp_path / "frames"
    assert run_cli("render-pose", "--motion", str(motion_path), "--out", str(out), "--frames-dir", str(frames)) == 0
    info = video.probe_video(out)
    assert (info.frames, info.width, info.height, info.fps) == (6, 224, 128, 16.0)
    pngs = sorted(frames.iterdir())
    assert [p.name for p in pngs] == [f"{i:05d}.png" for i in range(6)]
    decoded = list(video.read_video(out))
    for png, mp4 in zip(video.read_video(frames), decoded):
        assert png.any(), "a frame of a visible person is black"
        assert np.abs(png.astype(int) - mp4.astype(int)).mean() < 4


def test_joints_out_reproduces_the_render(tmp_path: Path) -> None:
    motion_path = tmp_path / "walk30.npz"
    save_motion_npz(walking_motion(frames=10, fps=30.0), motion_path)
    first = tmp_path / "first"
    joints_out = tmp_path / "rendered.npz"
    assert run_cli("render-pose", "--motion", str(motion_path), "--out", str(tmp_path / "a.mp4"),
                   "--frames-dir", str(first), "--fps", "16", "--size", "256x448",
                   "--joints-out", str(joints_out)) == 0
    rendered = load_motion_npz(joints_out)
    assert rendered.fps == 16.0 and rendered.image_size == (256, 448) and rendered.frames == 5
    assert rendered.intrinsics == cover_crop(Intrinsics.default(128, 224), (128, 224), (256, 448))
    second = tmp_path / "second"
    assert run_cli("render-pose", "--motion", str(joints_out), "--out", str(tmp_path / "b.mp4"),
                   "--frames-dir", str(second)) == 0
    for a, b in zip(video.read_video(first), video.read_video(second), strict=True):
        np.testing.assert_array_equal(a, b)


def test_preview_size_warns_with_the_nearest_model_size(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    motion_path = tmp_path / "walk.npz"
    save_motion_npz(walking_motion(frames=2), motion_path)
    assert run_cli("render-pose", "--motion", str(motion_path), "--out", str(tmp_path / "p.mp4"),
                   "--size", "200x300") == 0
    err = capsys.readouterr().err
    assert "multiples of 32" in err and "192x288" in err
    assert video.probe_video(tmp_path / "p.mp4").height == 200


def test_explicit_intrinsics_move_the_skeleton(tmp_path: Path) -> None:
    motion_path = tmp_path / "still.npz"
    save_motion_npz(walking_motion(frames=1), motion_path)
    centred, shifted = tmp_path / "c", tmp_path / "s"
    f = Intrinsics.default(128, 224).fx
    run_cli("render-pose", "--motion", str(motion_path), "--out", str(tmp_path / "c.mp4"), "--frames-dir", str(centred),
            "--intrinsics", f"{f},{f},112,64")
    run_cli("render-pose", "--motion", str(motion_path), "--out", str(tmp_path / "s.mp4"), "--frames-dir", str(shifted),
            "--intrinsics", f"{f},{f},152,64")
    a, b = next(video.read_video(centred)), next(video.read_video(shifted))
    cols_a = np.nonzero(a.any(axis=(0, 2)))[0]
    cols_b = np.nonzero(b.any(axis=(0, 2)))[0]
    assert cols_b.mean() - cols_a.mean() == pytest.approx(40, abs=1.5)


def test_bad_motion_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, joints3d_nonparam=np.zeros((4, 1, 17, 3)))
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", "--motion", str(bad),
                           "--out", str(tmp_path / "x.mp4")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "scail: error:" in proc.stderr and "[T, P, 24, 3]" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_help_documents_every_option() -> None:
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0
    for flag in ("--motion", "--out", "--frames-dir", "--joints-out", "--size", "--fps", "--intrinsics",
                 "joints3d_nonparam", "55 degrees"):
        assert flag in proc.stdout
