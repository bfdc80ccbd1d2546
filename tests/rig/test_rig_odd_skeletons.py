"""Skeletons that are not five clean limb chains map by structure (issue 19 point 5): a head
chain too short to be a limb (Khronos' CesiumMan), twist and helper bones, IK bones and extra
roots, a missing arm, a neck and head in one bone, arms forking from two spine bones, a rig
facing the other way. Plain bone tables, no Blender (test_rig_blender.py imports CesiumMan-like
glTF files with Blender's own importer)."""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.pose.skeleton import SMPL_JOINT_NAMES
from scail_blender.rig.automap import auto_map
from scail_blender.rig.bonemap import REQUIRED, STRUCTURE_PRESET
from scail_blender.rig.bones import BoneInfo
from tests.support.rig_skeletons import rest_points
from scail_blender.rig.structure import map_by_structure

from tests.support.rig_skeletons import (BRAIN_STEM, CESIUM_MAN, CESIUM_MAN_JOINTS, MIXAMO, bone_table, generic_names,
                                         gltf_joints, imported_gltf_bones, with_arms_on_two_spine_bones, with_helper_bones,
                                         with_ik_bones, with_neck_and_head_one_bone, with_twist_bones)

REQUIRED_NAMES = [SMPL_JOINT_NAMES[i] for i in REQUIRED]


def by_structure(bones: list[BoneInfo]):
    """Map ``bones`` under exporter-generic names; the joints' sources under the original names."""
    generic, original = generic_names(bones)
    bonemap, report = auto_map(generic)
    assert report.preset == STRUCTURE_PRESET
    named = {SMPL_JOINT_NAMES[i]: (original[s.bone], s.end) for i, s in bonemap.body.items()}
    return generic, bonemap, report, named


@pytest.mark.parametrize("generic", [False, True], ids=["its names", "generic names"])
def test_cesium_man_maps_all_14_joints_to_its_joints(generic: bool) -> None:
    # Before: "found 4 limb ends where a humanoid has 5": its 6 + 5 cm neck and head bones are
    # no limb, and its armature space has the character's left at +z (sides by x would swap).
    bones = imported_gltf_bones(CESIUM_MAN)
    original = {b.name: b.name for b in bones}
    if generic:
        bones, original = generic_names(bones)
    bonemap, report = auto_map(bones)
    assert report.ok and report.preset == STRUCTURE_PRESET, report.summary()
    named = {SMPL_JOINT_NAMES[i]: (original[s.bone], s.end) for i, s in bonemap.body.items()}
    assert {j: named[j] for j in REQUIRED_NAMES} == {j: (b, "head") for j, b in CESIUM_MAN_JOINTS.items()}
    assert set(REQUIRED_NAMES) <= set(report.guessed)
    assert report.guessed["left_elbow"].startswith("by structure: left arm chain")
    assert report.how_to_fix() == "" and "by hand" not in report.summary()
    # Its head bone points along the shoulders (the importer's choice): the face stands on the
    # neck-to-head line instead, nose forwards (+x in its armature space, where the toes point).
    points = rest_points(bones, bonemap)
    nose, head = points[66], points[SMPL_JOINT_NAMES.index("head")]
    assert report.face_from_rule and nose[0] - head[0] > 0.02 and abs(nose[2] - head[2]) < 1e-6


def test_cesium_man_without_its_left_arm_maps_the_rest_and_names_the_missing_joints() -> None:
    joints = {k: v for k, v in CESIUM_MAN.items() if "arm_joint_L" not in k}
    bonemap, report = auto_map(imported_gltf_bones(joints))
    assert report.missing_required == ["left_shoulder", "left_elbow", "left_wrist"]
    named = {SMPL_JOINT_NAMES[i]: s.bone for i, s in bonemap.body.items() if i in REQUIRED}
    assert named == {j: b for j, b in CESIUM_MAN_JOINTS.items() if j not in report.missing_required}
    assert "found no left arm in the bone tree" in report.suspicious
    fix = report.how_to_fix()
    assert fix.startswith("Set left_shoulder, left_elbow, left_wrist by hand") and "Manual bone choices" in fix


def test_brain_stem_maps_what_its_bones_mark_and_names_the_wrist_they_do_not() -> None:
    # Its finger leaves (as long as the forearm once imported) are one end, where they start is
    # the left wrist; its right forearm is a leaf, so no bone marks the right wrist.
    bones = imported_gltf_bones(BRAIN_STEM)
    generic, original = generic_names(bones)
    bonemap, report = auto_map(generic)
    named = {SMPL_JOINT_NAMES[i]: (original[s.bone], s.end) for i, s in bonemap.body.items()}
    assert report.missing_required == ["right_wrist"], report.summary()
    assert {j: named[j][0] for j in REQUIRED_NAMES if j != "right_wrist"} == {
        "head": "Head", "neck": "Head", "left_hip": "Left_Thigh", "right_hip": "Right_Thigh", "left_knee": "Left_Shin",
        "right_knee": "Right_Shin", "left_ankle": "Left_Foot", "right_ankle": "Right_Foot",
        "left_shoulder": "Left_Shoulder", "right_shoulder": "Right_Shoulder", "left_elbow": "Left_Forearm",
        "right_elbow": "Right_Forearm", "left_wrist": "Left_Forearm"}
    fingers = np.mean([b.head for b in bones if b.name in ("lThumb1", "lPinky1", "lMid1")], axis=0)
    wrist = rest_points(generic, bonemap)[SMPL_JOINT_NAMES.index("left_wrist")]
    assert np.linalg.norm(wrist - fingers) < 1e-6
    assert report.how_to_fix().startswith("Set right_wrist by hand")


def reference() -> tuple[list[BoneInfo], np.ndarray]:
    named = bone_table(MIXAMO, fingers=True)
    return named, rest_points(named, auto_map(named)[0])


@pytest.mark.parametrize("variant", [with_twist_bones, lambda bones: imported_gltf_bones(gltf_joints(with_twist_bones(bones))),
                                     with_helper_bones, with_ik_bones, lambda bones: with_ik_bones(bones)[::-1],
                                     with_arms_on_two_spine_bones],
                         ids=["twist bones", "twist bones through glTF (leaves as long as their parents)", "helper bones",
                              "IK bones and extra roots", "IK bones listed first", "arms on two spine bones"])
def test_extra_bones_leave_the_joints_where_they_are(variant) -> None:
    named, _ = reference()
    by_name = {SMPL_JOINT_NAMES[i]: (s.bone, s.end) for i, s in auto_map(named)[0].body.items() if i in REQUIRED}
    _, _, report, got = by_structure(variant(named))
    assert report.ok, report.summary()
    assert {j: got[j] for j in by_name} == by_name
    assert report.hands == {"left": 21, "right": 21}


def test_ik_bones_and_extra_roots_are_left_out_and_named() -> None:
    named, _ = reference()
    guess = map_by_structure(with_ik_bones(named))
    assert guess is not None
    left_out = " ".join(n for n in guess.findings if n.startswith("left out"))
    for bone in ("LeftKneePole", "RightHandTarget", "ik_hand_gun"):
        assert f"'{bone}'" in left_out, guess.findings
    assert not {s.bone for s in guess.body.values()} & {"root", "ik_hand_gun", "ik_foot_l", "LeftHandTarget"}


def test_a_neck_and_head_in_one_bone_places_the_head_joint_up_it_and_says_so() -> None:
    named, expected = reference()
    generic, bonemap, report, got = by_structure(with_neck_and_head_one_bone(named))
    assert report.ok, report.summary()
    points = rest_points(generic, bonemap)
    others = [i for i in REQUIRED if SMPL_JOINT_NAMES[i] != "head"]
    np.testing.assert_allclose(points[others], expected[others], atol=1e-9)
    # 35% of the way from the neck (z 1.5) to the crown (z 1.8): 0.5 cm from the head bone's head.
    head = SMPL_JOINT_NAMES.index("head")
    assert np.linalg.norm(points[head] - expected[head]) < 0.01
    assert got["head"][0] == "Neck" and "one bone" in report.guessed["head"]


def turned(bones: list[BoneInfo], angle: float) -> list[BoneInfo]:
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return [BoneInfo(b.name, b.parent, tuple(turn @ b.head), tuple(turn @ b.tail)) for b in bones]


@pytest.mark.parametrize("angle", [np.pi, np.pi / 2], ids=["facing +y", "facing +x"])
def test_left_and_right_come_from_where_the_feet_point(angle: float) -> None:
    # Before: sides by armature x, so a character facing +y mapped its left arm as the right one.
    _, bonemap, report, got = by_structure(turned(bone_table(MIXAMO), angle))
    assert report.ok, report.summary()
    assert got["left_wrist"] == ("LeftHand", "head") and got["right_hip"] == ("RightUpLeg", "head")
    assert not any("left from right" in s for s in report.suspicious)


def test_without_feet_sides_follow_armature_x_and_the_report_says_so() -> None:
    bones = [b for b in bone_table(MIXAMO) if not b.name.endswith(("Foot", "ToeBase"))]
    _, _, report, got = by_structure(bones)
    assert got["left_knee"] == ("LeftLeg", "head") and got["right_elbow"] == ("RightForeArm", "head")
    assert any("left from right" in s and "armature +x" in s for s in report.suspicious)
