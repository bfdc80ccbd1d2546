"""``scail motion info|convert`` and ``render-pose --motion`` with every readable format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from scail_blender.cli import main
from scail_blender.motion import load_motion, save_motion
from scail_blender.media import video

from tests.support.motion_fixtures import comfy_pose_glb, walking


def test_info_names_what_a_comfy_glb_cannot_say(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "nlf_pose_3d.glb"
    path.write_bytes(comfy_pose_glb(walking(frames=5, people=2).joints))
    assert main(["motion", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ComfyUI-SCAIL-Pose GLB" in out and "people: 2" in out and "5 at 24 fps" in out
    assert "note: position: the node does not store where the clip was" in out


def test_convert_nlf_pickle_to_glb_and_back_to_npz(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    motion = walking(frames=4, people=2)
    with open(tmp_path / "nlf.pkl", "wb") as handle:
        pickle.dump({"joints3d_nonparam": list(motion.joints)}, handle)
    assert main(["motion", "convert", str(tmp_path / "nlf.pkl"), str(tmp_path / "m.glb"), "--fps", "24"]) == 0
    assert main(["motion", "convert", str(tmp_path / "m.glb"), str(tmp_path / "m.npz")]) == 0
    back = load_motion(tmp_path / "m.npz")
    assert back.fps == 24.0
    np.testing.assert_allclose(back.joints, motion.joints, atol=0.05)
    assert "wrote" in capsys.readouterr().out


def test_convert_refuses_bad_output_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    save_motion(walking(frames=2), tmp_path / "m.npz")
    assert main(["motion", "convert", str(tmp_path / "m.npz"), str(tmp_path / "m.fbx")]) == 2
    assert "scail: error:" in capsys.readouterr().err


def test_render_pose_reads_glb_like_npz(tmp_path: Path) -> None:
    motion = walking(frames=3)
    motion.image_size, motion.intrinsics = (96, 128), None
    save_motion(motion, tmp_path / "m.npz")
    save_motion(motion, tmp_path / "m.glb")
    for name in ("m.npz", "m.glb"):
        assert main(["render-pose", "--motion", str(tmp_path / name), "--out", str(tmp_path / f"{name}.mp4"),
                     "--frames-dir", str(tmp_path / f"{name}_frames")]) == 0
    for a, b in zip(video.read_video(tmp_path / "m.npz_frames"), video.read_video(tmp_path / "m.glb_frames")):
        assert a.any() and np.abs(a.astype(int) - b.astype(int)).max() <= 2
