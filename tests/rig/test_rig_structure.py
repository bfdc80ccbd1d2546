"""Rigs without known names map by structure; fingertips and face marks do not trust leaf bones
(issue 10 points 3-5). Plain bone tables, no Blender."""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.pose.skeleton import SMPL_JOINT_NAMES
from scail_blender.rig.automap import auto_map
from scail_blender.rig.bonemap import REQUIRED, STRUCTURE_PRESET
from scail_blender.rig.bones import BoneInfo
from tests.support.rig_skeletons import rest_points
from scail_blender.rig.face import face_axes, marks_from_head_mesh
from scail_blender.rig.structure import explain_structure, map_by_structure

from tests.support.rig_skeletons import MIXAMO, bone_table

JOINT = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


def renamed(bones: list[BoneInfo], rotate: np.ndarray | None = None) -> list[BoneInfo]:
    """The same skeleton with exporter-generic names (Bone, Bone.001, ...), optionally turned."""
    names = {b.name: "Bone" if i == 0 else f"Bone.{i:03d}" for i, b in enumerate(bones)}
    turn = rotate if rotate is not None else np.eye(3)
    return [BoneInfo(names[b.name], names.get(b.parent) if b.parent else None, tuple(turn @ b.head),
                     tuple(turn @ b.tail)) for b in bones]


def required_points(bones: list[BoneInfo], bonemap) -> np.ndarray:
    return rest_points(bones, bonemap)[list(REQUIRED)]


@pytest.mark.parametrize("turn", [None, np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])],
                         ids=["z-up", "y-up (FBX armature space)"])
def test_generic_names_map_by_structure_to_the_named_joints(turn) -> None:
    named = bone_table(MIXAMO, fingers=True)
    reference, _ = auto_map(named)
    generic = renamed(named, turn)
    bonemap, report = auto_map(generic)
    assert report.ok, report.summary()
    assert report.preset == STRUCTURE_PRESET and any("a guess" in s for s in report.suspicious)
    expected = required_points(named, reference)
    got = required_points(generic, bonemap)
    np.testing.assert_allclose(got, expected @ (turn.T if turn is not None else np.eye(3)), atol=1e-9)
    assert report.hands == {"left": 21, "right": 21}
    hands = rest_points(generic, bonemap)[24:66]
    named_hands = rest_points(named, reference)[24:66] @ (turn.T if turn is not None else np.eye(3))
    np.testing.assert_allclose(hands, named_hands, atol=1e-9)


def test_short_offset_bones_and_a_separate_pelvis_do_not_fool_it() -> None:
    # CMU-style hip offsets (Hips -> LHipJoint -> LeftUpLeg) and legs under their own pelvis bone
    # while the spine hangs from a root bone at the floor.
    bones = []
    for b in bone_table(MIXAMO):
        parent = b.parent
        if b.name == "Hips":
            bones.append(BoneInfo("root", None, (0.0, 0.0, 0.0), (0.0, 0.0, 0.1)))
            bones.append(BoneInfo("pelvis", "root", b.head, (0.0, 0.0, 0.95)))
            parent = "root"
        if b.name in ("LeftUpLeg", "RightUpLeg"):
            offset = f"{b.name}Offset"
            bones.append(BoneInfo(offset, "pelvis", (0.0, 0.0, 1.0), b.head))
            parent = offset
        bones.append(BoneInfo(b.name, parent, b.head, b.tail))
    guess = map_by_structure(renamed(bones))
    assert guess is not None, explain_structure(renamed(bones))
    names = {f"Bone.{i:03d}" if i else "Bone": b.name for i, b in enumerate(bones)}
    got = {SMPL_JOINT_NAMES[i]: (names[s.bone], s.end) for i, s in guess.body.items()}
    assert got["left_hip"] == ("LeftUpLeg", "head") and got["right_knee"] == ("RightLeg", "head")
    assert got["left_ankle"] == ("LeftFoot", "head") and got["pelvis"] == ("pelvis", "head")
    assert got["left_shoulder"] == ("LeftArm", "head") and got["left_collar"] == ("LeftShoulder", "head")
    assert got["right_wrist"] == ("RightHand", "head") and got["head"] == ("Head", "head")
    assert got["neck"] == ("Neck", "head")


def two_bone_neck(bones: list[BoneInfo]) -> list[BoneInfo]:
    """The neck in two bones (as CMU's Neck and Neck1)."""
    out = []
    for b in bones:
        if b.name == "Neck":
            middle = tuple(np.add(b.head, b.tail) / 2)
            out += [BoneInfo("Neck", b.parent, b.head, middle), BoneInfo("Neck1", "Neck", middle, b.tail)]
        else:
            out.append(BoneInfo(b.name, "Neck1" if b.parent == "Neck" else b.parent, b.head, b.tail))
    return out


def with_a_sword(bones: list[BoneInfo]) -> list[BoneInfo]:
    """A one-bone prop on the chest pointing out to the left, where the missing arm would be."""
    return bones + [BoneInfo("Sword", "Spine2", (0.1, 0.1, 1.4), (0.6, 0.1, 1.2))]


def with_a_cape(bones: list[BoneInfo]) -> list[BoneInfo]:
    """A three-bone cape hanging down the back from the chest, as long as an arm."""
    points = [(0.0, 0.1, 1.45), (0.0, 0.15, 1.2), (0.0, 0.2, 0.95), (0.0, 0.25, 0.7)]
    return bones + [BoneInfo(f"Cape{k}", "Spine2" if k == 0 else f"Cape{k - 1}", points[k], points[k + 1]) for k in range(3)]


def with_a_quiver(bones: list[BoneInfo]) -> list[BoneInfo]:
    """A two-bone prop out to the right of the chest, beside the right arm."""
    points = [(-0.15, 0.1, 1.4), (-0.3, 0.1, 1.2), (-0.45, 0.1, 1.0)]
    return bones + [BoneInfo(f"Quiver{k}", "Spine2" if k == 0 else f"Quiver{k - 1}", points[k], points[k + 1]) for k in range(2)]


@pytest.mark.parametrize("shape", [list, two_bone_neck, lambda bones: bones[::-1], with_a_sword, with_a_cape, with_a_quiver],
                         ids=["mixamo", "two-bone neck", "children listed first", "a sword for an arm", "a cape",
                              "a quiver beside the other arm"])
def test_a_one_armed_rig_maps_the_rest_and_names_the_arm_joints_to_set(shape) -> None:
    # Before: "found 4 limb ends" and nothing mapped.
    named = shape([b for b in bone_table(MIXAMO) if not b.name.startswith(("LeftArm", "LeftForeArm", "LeftHand"))])
    reference, _ = auto_map(named)
    bones = renamed(named)
    guess = map_by_structure(bones)
    assert guess is not None and "found no left arm in the bone tree" in guess.findings
    bonemap, report = auto_map(bones)
    assert report.missing_required == ["left_shoulder", "left_elbow", "left_wrist"]
    mapped = [i for i in REQUIRED if i in bonemap.body]
    np.testing.assert_allclose(rest_points(bones, bonemap)[mapped], rest_points(named, reference)[mapped], atol=1e-9)
    assert report.how_to_fix().startswith("Set left_shoulder, left_elbow, left_wrist by hand")


def test_an_arm_cut_short_maps_as_far_as_it_reaches() -> None:
    named = [b for b in bone_table(MIXAMO) if b.name not in ("LeftForeArm", "LeftHand")]
    bones = renamed(named)
    names = {f"Bone.{i:03d}" if i else "Bone": b.name for i, b in enumerate(named)}
    bonemap, report = auto_map(bones)
    got = {SMPL_JOINT_NAMES[i]: (names[s.bone], s.end) for i, s in bonemap.body.items()}
    assert report.missing_required == ["left_wrist"], report.summary()
    assert got["left_shoulder"] == ("LeftArm", "head") and got["left_elbow"] == ("LeftArm", "tail")
    assert got["left_collar"] == ("LeftShoulder", "head")
    assert "joints at the other arm's spacing" in report.guessed["left_elbow"]


def test_fingertips_come_from_the_tip_bone_or_are_capped() -> None:
    bones = bone_table(MIXAMO, fingers=True)
    tips = []
    for b in bones:
        if b.name.endswith("3") and "Hand" in b.name:  # a fourth bone at each fingertip
            tips.append(BoneInfo(b.name[:-1] + "4", b.name, b.tail, tuple(np.add(b.tail, (0.0, 0.0, 0.5)))))
    bonemap, report = auto_map(bones + tips)
    index3 = 24 + 1 + 4 * 1 + 3  # left index tip
    np.testing.assert_allclose(rest_points(bones + tips, bonemap)[index3],
                               next(b.tail for b in bones if b.name == "LeftHandIndex3"))
    # Third bones made 90x too long (glTF leaf bones): the tip is capped and the cap reported.
    long = [BoneInfo(b.name, b.parent, b.head, tuple(np.add(b.head, 90 * np.subtract(b.tail, b.head))))
            if b.name.endswith("3") and "Hand" in b.name else b for b in bones]
    bonemap, report = auto_map(long)
    pts = rest_points(long, bonemap)
    middle = np.linalg.norm(pts[index3 - 1] - pts[index3 - 2])
    assert np.linalg.norm(pts[index3] - pts[index3 - 1]) == pytest.approx(1.5 * middle)
    assert any(s.startswith("left hand: fingertips of thumb, index, middle, ring, pinky capped") for s in report.suspicious)


def head_vertices(centre=(0.0, -0.02, 1.72)) -> np.ndarray:
    """An egg-shaped head (15 wide, 20 deep, 23 high, cm) facing -Y with a nose bump."""
    u, v = np.meshgrid(np.linspace(0, np.pi, 24), np.linspace(0, 2 * np.pi, 48))
    pts = np.stack([0.075 * np.sin(u) * np.cos(v), 0.10 * np.sin(u) * np.sin(v), 0.115 * np.cos(u)], -1).reshape(-1, 3)
    nose = np.array([[0.0, -0.13, -0.01]])
    return np.concatenate([pts, nose]) + centre


def test_face_marks_come_from_the_head_mesh() -> None:
    axes = face_axes(np.array([1.0, 0, 0]), np.array([0, 0, 1.0]))
    marks = marks_from_head_mesh(head_vertices(), axes)
    np.testing.assert_allclose(marks["nose"], (0.0, -0.15, 1.71), atol=1e-9)
    assert marks["left_eye"][0] > 0 > marks["right_eye"][0]
    assert marks["left_eye"][2] > marks["nose"][2] and marks["left_eye"][1] < marks["left_ear"][1] + 0.1
    assert marks["left_ear"][0] == pytest.approx(0.075, abs=0.005)
    bones = bone_table(MIXAMO)
    bonemap, report = auto_map(bones, head_mesh=head_vertices())
    face = rest_points(bones, bonemap)[66:]
    np.testing.assert_allclose(face[0], marks["nose"], atol=1e-9)
    assert not report.face_from_rule and any("head mesh" in s for s in report.suspicious)


def test_a_millimetre_head_bone_gives_no_face_and_says_so() -> None:
    bones = [BoneInfo(b.name, b.parent, b.head, tuple(np.add(b.head, (0.0, 0.0, 0.001)))) if b.name == "Head" else b
             for b in bone_table(MIXAMO)]
    bonemap, report = auto_map(bones)
    assert bonemap.head_marks == [None] * 5 and not report.face_from_rule
    assert any(s.startswith("no face marks") and "too short" in s for s in report.suspicious)


def test_a_headless_rig_says_what_is_missing() -> None:
    bones = [b for b in bone_table(MIXAMO) if b.name not in ("Head",)]
    _, report = auto_map(bones)
    assert not report.ok and report.missing_required == ["head"]
    assert "head" in report.how_to_fix()


def test_limbs_in_separate_bone_trees_are_joined_where_they_touch() -> None:
    # Deform chains whose parents were controls: the legs start their own trees.
    named = bone_table(MIXAMO)
    reference, _ = auto_map(named)
    names = {b.name: "Bone" if i == 0 else f"Bone.{i:03d}" for i, b in enumerate(named)}
    cut = {names["LeftUpLeg"], names["RightUpLeg"]}
    split = [BoneInfo(b.name, None if b.name in cut else b.parent, b.head, b.tail) for b in renamed(named)]
    bonemap, report = auto_map(split)
    assert report.ok, report.summary()
    np.testing.assert_allclose(required_points(split, bonemap), required_points(named, reference), atol=1e-9)
