"""Bone mapping on plain bone tables (no Blender needed)."""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.errors import RigMappingError
from scail_blender.pose.skeleton import SLOT_FROM_SMPL, SMPL_JOINT_NAMES
from scail_blender.rig.automap import auto_map
from scail_blender.rig.bonemap import BoneMap, HEAD_MARK_NAMES, sources_points
from scail_blender.rig.bones import BoneInfo, JointSource
from scail_blender.rig.hand_face import FACE_RULE
from tests.support.rig_skeletons import rest_points
from scail_blender.rig.names import parse_name
from scail_blender.rig.scale import auto_scale, skeleton_height

from tests.support.rig_skeletons import BODY, MAKEHUMAN, MIXAMO, SMPL, UNREAL, VRM, bone_table

JOINT = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


@pytest.mark.parametrize("spelling, base, side", [
    ("mixamorig:LeftForeArm", "forearm", "L"), ("mixamorig1:RightUpLeg", "upleg", "R"),
    ("DEF-upper_arm.L.001", "upperarm1", "L"), ("upperarm_l", "upperarm", "L"),
    ("J_Bip_R_LowerArm", "lowerarm", "R"), ("LHipJoint", "hipjoint", "L"), ("Bip01 L Thigh", "thigh", "L"),
    ("spine.004", "spine4", ""), ("neck_01", "neck1", ""), ("left_wrist", "wrist", "L"),
    ("Hand_Right", "hand", "R"), ("LeftThumbProximal", "thumb1", "L"),
])
def test_names_parse_to_one_spelling_per_bone(spelling: str, base: str, side: str) -> None:
    """``mixamorig:LeftForeArm`` and ``forearm_l`` both read as base ``forearm`` on side ``L``."""
    parsed = parse_name(spelling)
    assert (parsed.base, parsed.side) == (base, side)


@pytest.mark.parametrize("names, preset", [
    (MIXAMO, "Mixamo"), ({k: "mixamorig:" + v for k, v in MIXAMO.items()}, "Mixamo"),
    (UNREAL, "Unreal mannequin"), (VRM, "VRM/VRoid"), (SMPL, "SMPL/SMPL-X"), (MAKEHUMAN, "MakeHuman/MPFB"),
])
def test_conventions_map_all_joints_to_the_right_places(names: dict, preset: str) -> None:
    bones = bone_table(names)
    bonemap, report = auto_map(bones)
    assert report.ok and report.preset == preset
    assert len(report.mapped) == 24, report.summary()
    pts = rest_points(bones, bonemap)
    # Body joints at the documented ends: elbow = forearm head, ankle = foot head, foot = toe head.
    np.testing.assert_allclose(pts[JOINT["left_elbow"]], BODY["forearm_L"][1])
    np.testing.assert_allclose(pts[JOINT["right_knee"]], np.multiply(BODY["shin_L"][1], (-1, 1, 1)))
    np.testing.assert_allclose(pts[JOINT["left_foot"]], BODY["toe_L"][1])
    np.testing.assert_allclose(pts[JOINT["head"]], BODY["head"][1])
    assert not report.suspicious


def test_missing_limb_is_reported_with_how_to_fix() -> None:
    bones = [b for b in bone_table(MIXAMO) if b.name not in ("LeftForeArm", "LeftHand")]
    bonemap, report = auto_map(bones)
    assert not report.ok
    assert set(report.missing_required) == {"left_elbow", "left_wrist"}
    assert report.how_to_fix().startswith("Set left_elbow, left_wrist by hand: in Characters > Manual bone choices")
    assert "left_elbow" in report.summary()


def test_hierarchy_fills_badly_named_arm() -> None:
    renamed = {"lowerarm_l": "Bone.007", "hand_l": "Bone.008"}
    bones = [BoneInfo(renamed.get(b.name, b.name), renamed.get(b.parent, b.parent), b.head, b.tail)
             for b in bone_table(UNREAL)]
    bonemap, report = auto_map(bones)
    assert report.ok
    assert bonemap.body[JOINT["left_elbow"]].bone == "Bone.007"
    assert bonemap.body[JOINT["left_wrist"]].bone == "Bone.008"
    assert any("left_elbow" in s and "hierarchy" in s for s in report.suspicious)


def test_overrides_win_and_unknown_names_are_refused() -> None:
    bones = bone_table(MIXAMO)
    bonemap, _ = auto_map(bones, {"left_elbow": JointSource("LeftArm", "tail"), "head": "Neck"})
    np.testing.assert_allclose(rest_points(bones, bonemap)[JOINT["left_elbow"]], BODY["upperarm_L"][2])
    assert bonemap.body[JOINT["head"]] == JointSource("Neck")
    with pytest.raises(RigMappingError, match="no bone named"):
        auto_map(bones, {"left_elbow": "LeftElbowX"})
    with pytest.raises(RigMappingError, match="unknown point"):
        auto_map(bones, {"left_tail": "LeftArm"})


def test_unequal_sides_are_suspicious() -> None:
    bones = [BoneInfo(b.name, b.parent, b.head, (b.tail[0] * 2, b.tail[1], b.tail[2])) if b.name == "LeftForeArm"
             else b for b in bone_table(MIXAMO)]
    # The left wrist taken from the (now much longer) left forearm's tail.
    _, report = auto_map(bones, {"left_wrist": JointSource("LeftForeArm", "tail")})
    assert any("elbow-wrist" in s for s in report.suspicious)


def test_hands_give_21_points_from_finger_bones() -> None:
    bones = bone_table(MIXAMO, fingers=True)
    bonemap, report = auto_map(bones)
    assert report.hands == {"left": 21, "right": 21}
    pts = rest_points(bones, bonemap)
    left = pts[24:45]
    np.testing.assert_allclose(left[0], pts[JOINT["left_wrist"]])
    by_name = {b.name: b for b in bones}
    np.testing.assert_allclose(left[5], by_name["LeftHandIndex1"].head)  # index MCP
    np.testing.assert_allclose(left[8], by_name["LeftHandIndex3"].tail)  # index tip
    np.testing.assert_allclose(left[20], by_name["LeftHandPinky3"].tail)
    assert np.all(pts[45:66, 0] < 0)  # right hand on the right (-X)


def test_no_finger_bones_means_no_hand_points() -> None:
    bonemap, report = auto_map(bone_table(UNREAL))
    assert report.hands == {"left": 0, "right": 0}
    assert all(s is None for s in bonemap.hands["left"])


def test_face_rule_places_marks_in_front_of_the_head_and_turns_with_it() -> None:
    bones = bone_table(MIXAMO)
    bonemap, report = auto_map(bones)
    assert report.face_from_rule == list(HEAD_MARK_NAMES)
    marks = rest_points(bones, bonemap)[66:71]
    head = next(b for b in bones if b.name == "Head")
    size = head.length
    nose, r_eye, l_eye, r_ear, l_ear = marks
    # Facing -Y, left +X, up +Z in this skeleton.
    np.testing.assert_allclose(nose, np.add(head.head, size * np.array([0, -FACE_RULE["nose"][2], FACE_RULE["nose"][1]])),
                               atol=1e-9)
    assert l_eye[0] > 0 > r_eye[0] and l_ear[0] > l_eye[0]
    assert nose[1] < l_eye[1] < l_ear[1]  # nose furthest forward, ears at the back
    # A head turned 90 degrees about the vertical carries the marks with it.
    turn = np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    posed = head.rest_matrix().copy()
    posed[:3, :3] = turn @ posed[:3, :3]
    turned = sources_points(bonemap.head_marks, {"Head": posed}, {"Head": size})
    np.testing.assert_allclose(turned - head.head, (marks - head.head) @ turn.T, atol=1e-9)


def test_face_bones_are_used_when_present() -> None:
    bones = bone_table(MIXAMO) + [BoneInfo("LeftEye", "Head", (0.03, -0.09, 1.7), (0.03, -0.09, 1.72)),
                                  BoneInfo("RightEye", "Head", (-0.03, -0.09, 1.7), (-0.03, -0.09, 1.72))]
    bonemap, report = auto_map(bones)
    assert bonemap.head_marks[2] == JointSource("LeftEye") and bonemap.head_marks[1] == JointSource("RightEye")
    assert report.face_from_rule == ["nose", "right_ear", "left_ear"]


def test_bonemap_round_trips_through_dict() -> None:
    bonemap, _ = auto_map(bone_table(MIXAMO, fingers=True))
    again = BoneMap.from_dict(bonemap.to_dict())
    assert again == bonemap
    with pytest.raises(RigMappingError):
        BoneMap.from_dict({"body": {"elbow": {}}})


def test_required_joints_are_the_scail_ones() -> None:
    bonemap, _ = auto_map(bone_table(MIXAMO))
    assert set(SLOT_FROM_SMPL) <= set(bonemap.body)


@pytest.mark.parametrize("scale, expected_height", [(1.0, 1.8), (100.0, 180.0), (0.5, 0.9)])
def test_height_and_scale_rules(scale: float, expected_height: float) -> None:
    bones = bone_table(MIXAMO, scale=scale)
    bonemap, _ = auto_map(bones)
    height = skeleton_height(rest_points(bones, bonemap)[:24])
    # This skeleton's head joint stands at 1.6 m: a body about 1.8 m tall.
    assert height == pytest.approx(expected_height, rel=0.08)
    factor = auto_scale(height)
    if scale == 1.0:
        assert factor == 1.0
    else:
        assert height * factor == pytest.approx(1.70)


def test_chibi_proportions_are_scaled_up() -> None:
    # Short legs and trunk under a full-size head.
    bones = [BoneInfo(b.name, b.parent, tuple(np.multiply(b.head, 0.45)), tuple(np.multiply(b.tail, 0.45)))
             if b.name != "Head" else BoneInfo("Head", "Neck", (0, -0.0045, 0.72), (0, -0.0045, 0.97))
             for b in bone_table(MIXAMO)]
    bonemap, _ = auto_map(bones)
    height = skeleton_height(rest_points(bones, bonemap)[:24])
    assert height < 1.0
    assert auto_scale(height) == pytest.approx(1.70 / height)
    assert auto_scale(None) == 1.0
