"""Render Pose Video in the bpy module: files, strip timing, several characters, cancel and
bad input leave the scene as it was. Each test runs a script of ``scripts/`` in a fresh Blender
(a child process), starting from the dancer scene of ``scripts/common.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scail_blender.motion.model import load_motion_npz
from scail_blender.media import video

from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.mark.oldest_blender
def test_nine_pose_frames_files_and_strip_timing(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "pose_render.py", {"out": str(tmp_path / "pose.mp4"), "frames_dir": str(tmp_path / "frames"),
                                                      "joints_out": str(tmp_path / "joints.npz")})
    # 13 scene frames at 24 fps last 0.54 s: 9 pose frames at 16 fps sampled at 10, 11.5, ... 22.
    assert result["frames"] == 9
    info = video.probe_video(tmp_path / "pose.mp4")
    assert (info.frames, info.fps, info.width, info.height) == (9, 16.0, 896, 512)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"{k:05d}.png" for k in range(9)]
    # The strip plays the scene-rate copy: starts at the range start, lasts the range, one video
    # frame per scene frame at the scene's 24 fps, so it neither races nor drifts.
    assert result["strip_file"] == str(tmp_path / "pose.24fps.mp4")
    assert (result["start"], result["duration"], result["strip_fps"]) == (10, 13, 24.0)
    assert video.probe_video(tmp_path / "pose.24fps.mp4").frames == 13
    assert result["frame"] == 15  # the user's frame is back
    pngs = list(video.read_video(tmp_path / "frames"))
    assert all(frame.any() for frame in pngs), "the dancer is outside the camera view"
    assert not np.array_equal(pngs[0], pngs[4]), "the dance does not move"

    # --joints-out holds exactly what was rendered: rendering it again gives the same frames.
    from scail_blender.motion.pose_video import frame_motion, motion_frames

    motion = load_motion_npz(tmp_path / "joints.npz")
    assert motion.joints.shape == (9, 1, 24, 3) and motion.image_size == (512, 896) and motion.fps == 16
    again = list(motion_frames(frame_motion(motion)))
    assert all(np.array_equal(a, b) for a, b in zip(again, pngs))


def test_two_characters_render_in_one_pass(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "two_characters.py", {"out": str(tmp_path / "duo.mp4"),
                                                         "joints_out": str(tmp_path / "duo.npz")})
    assert sorted(result["people"]) == ["Dancer", "Partner"]
    assert result["frames"] == 3 and result["strips"] == 0
    motion = load_motion_npz(tmp_path / "duo.npz")
    assert motion.joints.shape == (3, 2, 24, 3)
    assert sorted(motion.person_ids) == ["Dancer", "Partner"]
    frame = next(video.read_video(tmp_path / "duo.mp4")).astype(int)
    # Two people get the two official palettes; each has a pelvis-free body on its own side.
    columns = np.nonzero(frame.sum(axis=(0, 2)) > 0)[0]
    assert columns.size and columns.max() - columns.min() > 200, "both dancers should spread across the frame"


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ({"no_camera": True}, "Camera from View"),
        ({"camera_type": "ORTHO"}, "orthographic"),
        ({"plan": {"size": [500, 896]}}, "nearest is 512x896"),
        ({"plan": {"size": [100000, 896]}}, "outside 16..4096"),
        ({"plan": {"frame_range": [30, 10]}}, "ends before it starts"),
        ({"plan": {"frame_range": [1, 10**6]}}, "render it in parts"),
        ({"out": "/proc/scail/pose.mp4"}, "folder"),
    ],
    ids=["no camera", "ortho", "size off grid", "size too big", "range backwards", "range too long", "unwritable"],
)
def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path, broken: dict, expected: str) -> None:
    result = run_script(SCRIPTS / "bad_input.py", {"out": str(tmp_path / "pose.mp4"), **broken})
    assert expected.lower() in result["message"].lower(), result["message"]
    assert result["same"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.oldest_blender
def test_cancel_midway_restores_the_scene_and_leaves_no_files(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "cancel_render.py", {"out": str(tmp_path / "pose.mp4"), "frames_dir": str(tmp_path / "frames")})
    assert result == {"reading": "cancelled", "encoding": "cancelled", "abort reading": "aborted",
                      "abort encoding": "aborted", "same": True}
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
