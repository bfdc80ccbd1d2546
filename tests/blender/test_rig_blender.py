"""Rigs and cameras read through the real bpy module (headless): mapping, projection, extraction.

Each test runs a script of ``scripts/`` (``rig_*.py``) in a fresh Blender and checks what it
reports, so no Blender state lives in the test process or passes from one test to the next.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from scail_blender.pose.skeleton import SMPL_JOINT_NAMES

from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"
JOINT = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


def raised(error: dict | None, kind: str, match: str) -> bool:
    """What ``pytest.raises(kind, match=match)`` checks, on an error a script reported."""
    return error is not None and kind in error["types"] and re.search(match, error["message"]) is not None


@pytest.fixture(scope="module")
def rigify_file(tmp_path_factory) -> Path:
    """One generated Rigify rig for the module, saved so every test starts from a clean copy."""
    path = tmp_path_factory.mktemp("rigify") / "rigify.blend"
    run_script(SCRIPTS / "rigify_blend.py", {"blend": str(path)})
    return path


PROJECTION_CASES = [
    ({}, {}),
    ({"shift_x": 0.12, "shift_y": -0.07}, {}),
    ({"sensor_fit": "HORIZONTAL", "shift_y": 0.1}, {"resolution_x": 512, "resolution_y": 896}),
    ({"sensor_fit": "VERTICAL", "shift_x": -0.05, "lens": 35.0}, {}),
    ({"sensor_fit": "AUTO", "shift_x": 0.2}, {"resolution_x": 512, "resolution_y": 896}),
    ({"shift_x": 0.1, "shift_y": 0.05}, {"pixel_aspect_x": 2.0}),
    ({"sensor_fit": "VERTICAL", "shift_y": 0.15}, {"pixel_aspect_y": 1.5, "resolution_percentage": 50}),
    ({"sensor_fit": "AUTO"}, {"resolution_x": 600, "resolution_y": 500, "pixel_aspect_y": 1.4}),
]


@pytest.fixture(scope="module")
def projections() -> list[dict]:
    """Every case projected in one Blender (one start-up instead of eight)."""
    return run_script(SCRIPTS / "rig_projection.py", {"cases": PROJECTION_CASES})


@pytest.mark.parametrize("case", range(len(PROJECTION_CASES)),
                         ids=[f"settings{k}-render{k}" for k in range(len(PROJECTION_CASES))])
def test_world_point_lands_on_blenders_pixel(projections: list[dict], case: int) -> None:
    result = projections[case]
    assert len(result["ours"]) == len(result["blender"]) == 3
    for ours, blender in zip(result["ours"], result["blender"]):
        np.testing.assert_allclose(ours, blender, atol=0.5)
        assert np.abs(np.subtract(ours, blender)).max() < 1e-3


def test_camera_errors_say_what_to_do() -> None:
    errors = run_script(SCRIPTS / "rig_camera_errors.py")
    assert raised(errors["no_camera"], "CameraError", "Camera from View"), errors
    assert raised(errors["ortho"], "CameraError", "orthographic"), errors


def test_generated_rigify_rig_maps_fully_with_hands_and_face_bones(rigify_file: Path) -> None:
    result = run_script(SCRIPTS / "rig_rigify_map.py", {"blend": str(rigify_file)})
    rig, meta = result["rig"], result["metarig"]
    assert rig["ok"] and rig["preset"] == "Rigify" and rig["mapped"] == 24, rig["summary"]
    assert rig["body"]["left_shoulder"] == "DEF-upper_arm.L"
    assert rig["body"]["right_elbow"] == "DEF-forearm.R"
    assert rig["body"]["left_wrist"] == "DEF-hand.L"
    assert rig["body"]["right_knee"] == "DEF-shin.R"
    assert rig["body"]["neck"] == "DEF-spine.004"
    assert rig["body"]["head"] == "DEF-spine.006"
    assert rig["hands"] == {"left": 21, "right": 21}
    assert rig["left_hand_1"] == "DEF-thumb.01.L" and rig["right_hand_20_end"] == "tail"
    # Eyes from the ORG eye bones (not the eye-target controls in front of the face), ears from DEF ears.
    assert rig["face_from_rule"] == []
    assert rig["head_marks"] == ["DEF-nose.002", "ORG-eye.R", "ORG-eye.L", "DEF-ear.R", "DEF-ear.L"]
    # The metarig it was generated from maps the same way, to the same rest positions.
    assert meta["ok"] and meta["preset"] == "Rigify" and meta["hands"] == rig["hands"]
    assert meta["body"]["left_shoulder"] == "upper_arm.L" and meta["head_marks"][2] == "eye.L"
    np.testing.assert_allclose(meta["rest_points"], rig["rest_points"], atol=1e-5)


def test_rigify_extraction_follows_the_pose_and_the_camera(rigify_file: Path) -> None:
    result = run_script(SCRIPTS / "rig_rigify_extract.py", {"blend": str(rigify_file)})
    assert result["scales"] == [1.0]  # Rigify's metarig is a 2 m human
    assert result["steps"] == 4 and result["frame"] == 7
    joints = np.array(result["joints"])
    assert joints.shape == (4, 1, 24, 3) and result["hands_shape"] == [4, 1, 2, 21, 3]
    assert result["image_size"] == [512, 896] and result["person_ids"] == ["rig"]
    wrist = joints[:, 0, JOINT["left_wrist"]]
    forearm = wrist - joints[:, 0, JOINT["left_elbow"]]
    assert np.linalg.norm(forearm[2] - forearm[0]) > 100  # the arm swung (mm), not only the body
    # Each extracted joint projects where Blender projects the deformation bone at that frame.
    assert len(result["blender"]) == 3
    for t, seen in enumerate(result["blender"]):
        np.testing.assert_allclose(seen["ours"], seen["pixel"], atol=0.5)
        assert wrist[t, 2] == pytest.approx(seen["depth_mm"], rel=1e-4)
    assert result["min_hand_depth"] > 0 and result["min_head_mark_depth"] > 0


def test_mixamo_and_unreal_rigs_built_in_blender_map_and_extract() -> None:
    results = run_script(SCRIPTS / "rig_presets.py")
    assert sorted(results) == ["Mixamo", "Unreal mannequin"]
    for preset, result in results.items():
        assert result["ok"] and result["preset"] == preset, result["summary"]
        assert result["infos"] == result["bones"]
        assert result["hands"] == {"left": 21, "right": 21}
        # Camera 6 m in front of the character, looking at it: the pelvis is about 6000 mm deep.
        assert result["depths"][JOINT["pelvis"]] == pytest.approx(6000, abs=10)
        assert np.all(np.array(result["depths"]) > 5000)


def test_missing_arm_is_refused_with_the_joint_names() -> None:
    result = run_script(SCRIPTS / "rig_missing_arm.py")
    assert result["missing"] == ["left_elbow", "left_wrist"]
    assert raised(result["no_arm"], "RigMappingError", "left_elbow.*left_wrist"), result
    assert raised(result["camera"], "RigMappingError", "armature"), result


# CMU-style skeleton in centimetres, Y up, facing +Z: (name, offset, children); "" is an end site.
_CMU_LEFT_LEG = ("LHipJoint", (0, 0, 0), [("LeftUpLeg", (10, -5, 0), [("LeftLeg", (0, -45, 0), [
    ("LeftFoot", (0, -45, 0), [("LeftToeBase", (0, -8, 12), [("", (0, 0, 6), [])])])])])])
_CMU_LEFT_ARM = ("LeftShoulder", (2, 12, 0), [("LeftArm", (15, 0, 0), [("LeftForeArm", (27, 0, 0), [
    ("LeftHand", (25, 0, 0), [("", (8, 0, 0), [])])])])])


def _mirror(node: tuple) -> tuple:
    name, (x, y, z), children = node
    name = name.replace("Left", "Right").replace("LHip", "RHip")
    return name, (-x, y, z), [_mirror(c) for c in children]


CMU_SKELETON = ("Hips", (0, 0, 0), [
    _CMU_LEFT_LEG, _mirror(_CMU_LEFT_LEG),
    ("LowerBack", (0, 5, 0), [("Spine", (0, 15, 0), [("Spine1", (0, 15, 0), [
        ("Neck", (0, 15, 0), [("Neck1", (0, 5, 0), [("Head", (0, 5, 0), [("", (0, 20, 0), [])])])]),
        _CMU_LEFT_ARM, _mirror(_CMU_LEFT_ARM)])])]),
])


def write_bvh(path: Path, root: tuple, frames: list[tuple[float, float, float]]) -> None:
    """A BVH file whose root translates through ``frames`` while every joint keeps its rest rotation."""
    lines: list[str] = []
    joints = 0

    def emit(node: tuple, depth: int) -> None:
        nonlocal joints
        name, offset, children = node
        pad = "  " * depth
        kind = "ROOT" if depth == 0 else "JOINT"
        lines.append(f"{pad}{kind} {name}" if name else f"{pad}End Site")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}")
        if name:
            joints += 1
            position = "Xposition Yposition Zposition " if depth == 0 else ""
            count = 6 if depth == 0 else 3
            lines.append(f"{pad}  CHANNELS {count} {position}Zrotation Xrotation Yrotation")
        for child in children:
            emit(child, depth + 1)
        lines.append(pad + "}")

    emit(root, 0)
    rotations = " ".join(["0"] * (3 * joints))
    lines += ["MOTION", f"Frames: {len(frames)}", "Frame Time: 0.0333333"]
    lines += [f"{x} {y} {z} {rotations}" for x, y, z in frames]
    path.write_text("HIERARCHY\n" + "\n".join(lines) + "\n")


def test_cmu_bvh_in_centimetres_maps_and_is_scaled_to_human_size(tmp_path: Path) -> None:
    path = tmp_path / "walk.bvh"
    write_bvh(path, CMU_SKELETON, [(0, 100, 0), (40, 100, 0)])  # the second frame steps 40 cm sideways
    result = run_script(SCRIPTS / "rig_bvh.py", {"bvh": str(path)})
    assert result["ok"] and result["preset"] == "CMU/BVH" and result["mapped"] == 24, result["summary"]
    height = result["height"]
    assert 150 < height < 200  # read as a 1.7 km giant: the file is in centimetres
    assert result["scales"][0] == pytest.approx(1.70 / height)
    joints = np.array(result["joints"])
    # Human-sized after scaling: a 1.7 m person has about 1.45 m from head joint to ankle, and the
    # camera 600 units away stands about 6 m away.
    span = np.linalg.norm(joints[0, JOINT["head"]] - joints[0, JOINT["left_ankle"]])
    assert 1300 < span < 1600
    assert 5000 < joints[0, JOINT["pelvis"], 2] < 7500
    # Projections are those of the unscaled scene: the 40-unit step is seen where Blender sees it.
    assert len(result["blender"]) == 2
    for seen in result["blender"]:
        np.testing.assert_allclose(seen["ours"], seen["pixel"], atol=0.5)
    # The manual scale wins over the automatic one.
    np.testing.assert_allclose(result["manual"], joints[0] * 0.02 / result["scales"][0], rtol=1e-4)


def test_centimetre_unit_scale_is_already_human() -> None:
    result = run_script(SCRIPTS / "rig_centimetres.py")
    assert result["height"] == pytest.approx(1.76, abs=0.05) and result["scales"] == [1.0]
    assert result["pelvis"][2] == pytest.approx(6000, abs=10)


def test_sample_pose_matches_pose_bones(rigify_file: Path) -> None:
    result = run_script(SCRIPTS / "rig_sample_pose.py", {"blend": str(rigify_file)})
    sampled, bone = result["knee"]
    np.testing.assert_allclose(sampled, bone, atol=1e-6)
    sampled, bone = result["eye"]
    np.testing.assert_allclose(sampled, bone, atol=1e-6)
