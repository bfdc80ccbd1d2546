"""What a ComfyUI-SCAIL-Pose GLB reveals beyond its joints (issue 10 point 7): the clip's place
when someone is missing, slot swaps, a non-default cylinder radius, a resampled frame rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scail_blender.motion.comfy_glb import DRAWN
from scail_blender.motion.io import read_motion

from tests.support.motion_fixtures import comfy_pose_glb, walking


def read(tmp_path: Path, joints: np.ndarray, **kw):
    (tmp_path / "pose.glb").write_bytes(comfy_pose_glb(joints, **kw))
    return read_motion(tmp_path / "pose.glb")


def test_centre_comes_back_from_any_missing_person(tmp_path: Path) -> None:
    motion = walking(frames=6, people=2)
    motion.joints[3:5, 1] = 0.0  # the second person leaves for two frames
    loaded = read(tmp_path, motion.joints)
    assert any("recovered exactly" in n for n in loaded.notes)
    present = loaded.motion.present()
    np.testing.assert_allclose(loaded.motion.joints[:, :, DRAWN][present], motion.joints[:, :, DRAWN][present], atol=0.5)


def test_slot_swaps_when_someone_leaves_are_undone_and_reported(tmp_path: Path) -> None:
    motion = walking(frames=8, people=2)
    joints = motion.joints.copy()
    # From frame 5 the first person is gone and the node moves the second into slot 0.
    joints[5:, 0] = motion.joints[5:, 1]
    joints[5:, 1] = 0.0
    loaded = read(tmp_path, joints)
    assert any("swapped slots" in n and "frame(s) 6" in n for n in loaded.notes), loaded.notes
    back = loaded.motion
    present = back.present()
    assert present[:5].all() and not present[5:, 0].any() and present[5:, 1].all()
    np.testing.assert_allclose(back.joints[5:, 1][:, DRAWN], motion.joints[5:, 1][:, DRAWN], atol=0.5)


@pytest.mark.parametrize("radius", [10.0, 40.0])
def test_a_non_default_radius_is_detected_from_the_body_size(tmp_path: Path, radius: float) -> None:
    motion = walking(frames=5, people=1)
    motion.joints[2, 0] = 0.0  # reveals the centre, so sizes compare directly
    loaded = read(tmp_path, motion.joints, radius=radius)
    note = next(n for n in loaded.notes if n.startswith("scale:"))
    assert "saved with a cylinder_radius of about" in note
    guess = float(note.split("about ")[1].split(" mm")[0])
    assert guess == pytest.approx(radius, rel=0.12)
    present = loaded.motion.present()
    ratio = np.linalg.norm(loaded.motion.joints[present][:, 15] - loaded.motion.joints[present][:, 7], axis=-1) / \
        np.linalg.norm(motion.joints[present][:, 15] - motion.joints[present][:, 7], axis=-1)
    assert ratio == pytest.approx(np.full_like(ratio, guess / radius), rel=0.01)


def test_default_radius_says_how_tall_the_people_are(tmp_path: Path) -> None:
    loaded = read(tmp_path, walking(frames=4).joints)
    assert any(n.startswith("scale: taken from the joint spheres") and "m tall" in n for n in loaded.notes)


def test_resampled_keys_suggest_the_real_frame_rate(tmp_path: Path) -> None:
    clip = walking(frames=16).joints
    # 16 fps stretched to 24 by repeating every second frame (16 -> 24: 2 frames become 3).
    stretched = np.concatenate([clip[i:i + 1].repeat(2 if i % 2 else 1, axis=0) for i in range(16)])
    loaded = read(tmp_path, stretched, fps=24.0)
    assert any("probably 16 fps" in n for n in loaded.notes), loaded.notes
    plain = read(tmp_path, clip, fps=24.0)
    assert any("node's default" in n and "1.5x too fast" in n for n in plain.notes)
