"""``scail render-pose --mask-out``: the SCAIL-2 driving mask beside the pose video, for motion
files and .blend scenes, and refusals of bad mask options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scail_blender.cli import main
from scail_blender.media import video
from scail_blender.motion.model import Motion, load_motion_npz, save_motion_npz
from scail_blender.motion.pose_video import frame_motion, mask_frames
from scail_blender.pose.identity import PALETTE

from tests.support import ROOT, run_script

from .test_cli_render_pose import STANDING


def duet(frames: int = 5) -> Motion:
    """Two standing people side by side, walking apart."""
    joints = np.repeat(STANDING[None, None], frames, axis=0).repeat(2, axis=1)
    joints[:, 0, :, 0] -= 500 + 40 * np.arange(frames)[:, None]
    joints[:, 1, :, 0] += 500 + 40 * np.arange(frames)[:, None]
    return Motion(joints=joints, fps=12.0, image_size=(128, 224))


def colours(frames: list[np.ndarray]) -> set[tuple[int, ...]]:
    return {tuple(c) for f in frames for c in np.unique(f.reshape(-1, 3), axis=0)}


@pytest.mark.parametrize(("mode", "bg"), [(None, (0, 0, 0)), ("replacement", (255, 255, 255))])
def test_mask_out_writes_the_driving_mask(tmp_path: Path, mode: str | None, bg: tuple[int, int, int]) -> None:
    save_motion_npz(duet(), tmp_path / "duet.npz")
    out, mask = tmp_path / "pose.mp4", tmp_path / "mask.mp4"
    extra = ["--mask-mode", mode] if mode else []
    assert main(["render-pose", "--motion", str(tmp_path / "duet.npz"), "--out", str(out),
                 "--mask-out", str(mask), *extra]) == 0
    pose, info = video.probe_video(out), video.probe_video(mask)
    assert (info.frames, info.width, info.height, info.fps) == (pose.frames, pose.width, pose.height, pose.fps)
    frames = list(video.read_video(mask))
    assert colours(frames) == {PALETTE[0], PALETTE[1], bg}
    left = frames[0][:, : frames[0].shape[1] // 2].reshape(-1, 3)
    assert {tuple(c) for c in np.unique(left, axis=0)} == {PALETTE[0], bg}  # the left person is blue
    expected = mask_frames(frame_motion(duet()), mode or "animation")
    assert all(np.array_equal(a, b) for a, b in zip(frames, expected))


@pytest.mark.parametrize(("args", "message"), [
    (["--mask-out", "m.mp4", "--mask-mode", "e2e"], "invalid choice: 'e2e'"),
    (["--mask-mode", "replacement"], "give --mask-out MASK.mp4 too"),
    (["--mask-out", "pose.mp4"], "--mask-out"),
    (["--driving", "mesh"], "--driving applies to --blend only"),
    (["--driving", "bones"], "invalid choice: 'bones'"),
])
def test_bad_mask_options_are_refused(tmp_path: Path, args: list[str], message: str,
                                      capsys: pytest.CaptureFixture) -> None:
    save_motion_npz(duet(), tmp_path / "duet.npz")
    before = sorted(os.listdir(tmp_path))
    args = [a if not a.endswith(".mp4") else str(tmp_path / a) for a in args]
    try:
        code = main(["render-pose", "--motion", str(tmp_path / "duet.npz"), "--out", str(tmp_path / "pose.mp4"), *args])
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert sorted(os.listdir(tmp_path)) == before


def test_help_describes_the_mask(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["render-pose", "--help"])
    text = capsys.readouterr().out
    assert "--mask-out MASK.mp4" in text and "animation,replacement" in text and "lossless" in text


def test_blend_mask_matches_its_joints(tmp_path: Path) -> None:
    blend = tmp_path / "duo.blend"
    run_script(ROOT / "tests" / "blender" / "scripts" / "duo_blend.py", {"blend": str(blend)})
    mask = tmp_path / "mask.mp4"
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", "--blend", str(blend),
                           "--frame-range", "4:10", "--size", "256x448", "--out", str(tmp_path / "pose.mp4"),
                           "--joints-out", str(tmp_path / "rig.npz"), "--mask-out", str(mask),
                           "--mask-mode", "replacement"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert video.probe_video(mask).frames == video.probe_video(tmp_path / "pose.mp4").frames == 5
    frames = list(video.read_video(mask))
    expected = list(mask_frames(frame_motion(load_motion_npz(tmp_path / "rig.npz")), "replacement"))
    assert all(np.array_equal(a, b) for a, b in zip(frames, expected, strict=True))
    assert colours(frames) == {PALETTE[0], PALETTE[1], (255, 255, 255)}
