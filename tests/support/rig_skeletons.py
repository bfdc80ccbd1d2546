"""A human skeleton (Blender axes: Z up, facing -Y, character's left at +X, metres) spelled in
several rig conventions, for the bone-mapping and extraction tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scail_blender.motion.gltf import ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, GlbBuilder
from scail_blender.rig.bonemap import BoneMap, sources_points
from scail_blender.rig.bones import BoneInfo

# key -> (parent key, head, tail); "_L" keys are mirrored to "_R".
BODY = {
    "pelvis": (None, (0.0, 0.0, 1.0), (0.0, 0.0, 1.1)),
    "spine1": ("pelvis", (0.0, 0.0, 1.1), (0.0, 0.0, 1.25)),
    "spine2": ("spine1", (0.0, 0.0, 1.25), (0.0, 0.0, 1.4)),
    "spine3": ("spine2", (0.0, 0.0, 1.4), (0.0, 0.0, 1.5)),
    "neck": ("spine3", (0.0, 0.0, 1.5), (0.0, -0.01, 1.6)),
    "head": ("neck", (0.0, -0.01, 1.6), (0.0, -0.01, 1.8)),
    "collar_L": ("spine3", (0.02, 0.0, 1.45), (0.17, 0.0, 1.45)),
    "upperarm_L": ("collar_L", (0.18, 0.0, 1.45), (0.45, 0.0, 1.45)),
    "forearm_L": ("upperarm_L", (0.45, 0.0, 1.45), (0.70, 0.0, 1.45)),
    "hand_L": ("forearm_L", (0.70, 0.0, 1.45), (0.78, 0.0, 1.45)),
    "thigh_L": ("pelvis", (0.1, 0.0, 1.0), (0.1, 0.0, 0.55)),
    "shin_L": ("thigh_L", (0.1, 0.0, 0.55), (0.1, 0.0, 0.1)),
    "foot_L": ("shin_L", (0.1, 0.0, 0.1), (0.1, -0.12, 0.02)),
    "toe_L": ("foot_L", (0.1, -0.12, 0.02), (0.1, -0.18, 0.02)),
}
FINGER_KEYS = ("thumb", "index", "middle", "ring", "pinky")

MIXAMO = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
          "head": "Head", "collar_L": "LeftShoulder", "upperarm_L": "LeftArm", "forearm_L": "LeftForeArm",
          "hand_L": "LeftHand", "thigh_L": "LeftUpLeg", "shin_L": "LeftLeg", "foot_L": "LeftFoot",
          "toe_L": "LeftToeBase"}
MIXAMO.update({f"{f}{k}_L": f"LeftHand{f.capitalize()}{k}" for f in FINGER_KEYS for k in (1, 2, 3)})
UNREAL = {"pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": "spine_03",
          "neck": "neck_01", "head": "head", "collar_L": "clavicle_l", "upperarm_L": "upperarm_l",
          "forearm_L": "lowerarm_l", "hand_L": "hand_l", "thigh_L": "thigh_l", "shin_L": "calf_l",
          "foot_L": "foot_l", "toe_L": "ball_l"}
UNREAL.update({f"{f}{k}_L": f"{f}_0{k}_l" for f in FINGER_KEYS for k in (1, 2, 3)})
VRM = {"pelvis": "J_Bip_C_Hips", "spine1": "J_Bip_C_Spine", "spine2": "J_Bip_C_Chest",
       "spine3": "J_Bip_C_UpperChest", "neck": "J_Bip_C_Neck", "head": "J_Bip_C_Head",
       "collar_L": "J_Bip_L_Shoulder", "upperarm_L": "J_Bip_L_UpperArm", "forearm_L": "J_Bip_L_LowerArm",
       "hand_L": "J_Bip_L_Hand", "thigh_L": "J_Bip_L_UpperLeg", "shin_L": "J_Bip_L_LowerLeg",
       "foot_L": "J_Bip_L_Foot", "toe_L": "J_Bip_L_ToeBase"}
SMPL = {"pelvis": "Pelvis", "spine1": "Spine1", "spine2": "Spine2", "spine3": "Spine3", "neck": "Neck",
        "head": "Head", "collar_L": "L_Collar", "upperarm_L": "L_Shoulder", "forearm_L": "L_Elbow",
        "hand_L": "L_Wrist", "thigh_L": "L_Hip", "shin_L": "L_Knee", "foot_L": "L_Ankle", "toe_L": "L_Foot"}
MAKEHUMAN = {"pelvis": "root", "spine1": "spine04", "spine2": "spine03", "spine3": "spine02",
             "neck": "neck01", "head": "head", "collar_L": "clavicle.L", "upperarm_L": "upperarm01.L",
             "forearm_L": "lowerarm01.L", "hand_L": "wrist.L", "thigh_L": "upperleg01.L",
             "shin_L": "lowerleg01.L", "foot_L": "foot.L", "toe_L": "toe1-1.L"}


def _finger_bones() -> dict:
    """Three bones per finger fanned out from the end of the hand."""
    bones = {}
    for f, finger in enumerate(FINGER_KEYS):
        y = -0.03 + 0.015 * f
        start = (0.76 if finger == "thumb" else 0.79, y - (0.02 if finger == "thumb" else 0.0), 1.45)
        parent = "hand_L"
        for k in (1, 2, 3):
            end = (start[0] + 0.03, start[1], start[2] - 0.005)
            bones[f"{finger}{k}_L"] = (parent, start, end)
            parent, start = f"{finger}{k}_L", end
    return bones


def mirrored(table: dict) -> dict:
    out = {}
    for key, value in table.items():
        out[key] = value
        if key.endswith("_L"):
            out[key[:-2] + "_R"] = value
    return out


def right_name(name: str) -> str:
    """The convention's right-side spelling of a left-side bone name."""
    for left, right in (("LeftHand", "RightHand"), ("Left", "Right"), ("_L_", "_R_"), ("L_", "R_"),
                        (".L", ".R"), ("_l", "_r")):
        if left in name:
            return name.replace(left, right, 1)
    raise ValueError(name)


def skeleton(names: dict[str, str], fingers: bool = False, scale: float = 1.0) -> list[tuple]:
    """(name, parent name, head, tail) for every bone the convention names, parents first."""
    geometry = dict(BODY, **(_finger_bones() if fingers else {}))
    out = []
    for key, (parent, head, tail) in geometry.items():
        if key not in names:
            continue
        for side in ("L", "R") if key.endswith("_L") else ("",):
            sign = -1.0 if side == "R" else 1.0
            name = names[key] if side != "R" else right_name(names[key])
            parent_name = None
            if parent is not None:
                parent_name = names[parent]
                if side == "R" and parent.endswith("_L"):
                    parent_name = right_name(parent_name)
            h = (sign * head[0] * scale, head[1] * scale, head[2] * scale)
            t = (sign * tail[0] * scale, tail[1] * scale, tail[2] * scale)
            out.append((name, parent_name, h, t))
    return out


def bone_table(names: dict[str, str], fingers: bool = False, scale: float = 1.0) -> list[BoneInfo]:
    return [BoneInfo(n, p, h, t) for n, p, h, t in skeleton(names, fingers, scale)]


# Khronos' CesiumMan sample (glTF-Sample-Assets, Models/CesiumMan): its 19 joint names, parents
# and rest transforms (translation, then rotation as an x, y, z, w quaternion) as its .gltf
# states them, rounded to 0.01 mm; the joints hang from a node "Armature" (a -90 degree turn
# about z) under a node "Z_UP". Its inverse bind matrices are these transforms inverted. The
# model itself is not part of this repository.
CESIUM_MAN = {
    "Skeleton_torso_joint_1": (None, (0.0, 0.005, 0.679), (0.0, -0.0378, 0.0, -0.99929)),
    "leg_joint_R_1": ("Skeleton_torso_joint_1", (0.02856, -0.06804, -0.06296), (0.0, -0.68983, 0.0, -0.72397)),
    "leg_joint_R_2": ("leg_joint_R_1", (0.26089, -0.00903, 0.05167), (0.0, -0.09411, 0.0, -0.99556)),
    "leg_joint_R_3": ("leg_joint_R_2", (0.27546, -0.00143, -0.0141), (0.0, 0.86664, 0.0, 0.49893)),
    "leg_joint_R_5": ("leg_joint_R_3", (-0.06682, -0.00107, 0.02635), (0.0, 0.32691, 0.0, -0.94505)),
    "leg_joint_L_1": ("Skeleton_torso_joint_1", (0.02852, 0.06804, -0.06296), (0.0, -0.32463, 0.0, -0.94584)),
    "leg_joint_L_2": ("leg_joint_L_1", (0.20916, 0.00906, -0.16427), (0.0, -0.52944, 0.0, -0.84835)),
    "leg_joint_L_3": ("leg_joint_L_2", (0.27579, 0.0014, 0.00412), (0.0, -0.83776, 0.0, -0.54603)),
    "leg_joint_L_5": ("leg_joint_L_3", (-0.06558, 0.00109, 0.02929), (0.0, 0.31305, 0.0, -0.94974)),
    "Skeleton_torso_joint_2": ("Skeleton_torso_joint_1", (0.00001, -0.00001, 0.14542), (0.0, -0.6574, 0.0, -0.75354)),
    "torso_joint_3": ("Skeleton_torso_joint_2", (-0.25052, 0.0, -0.00007), (0.0, 0.6227, 0.0, -0.78246)),
    "Skeleton_arm_joint_R": ("torso_joint_3", (-0.00004, -0.09099, -0.00006), (0.0, 0.99093, 0.0, -0.13436)),
    "Skeleton_arm_joint_R__2_": ("Skeleton_arm_joint_R", (-0.03555, -0.2155, 0.10423), (0.0, 0.89615, 0.0, 0.44376)),
    "Skeleton_arm_joint_R__3_": ("Skeleton_arm_joint_R__2_", (0.03137, -0.143, -0.11761), (0.0, 0.37922, 0.0, -0.92531)),
    "Skeleton_arm_joint_L__4_": ("torso_joint_3", (-0.00004, 0.09101, -0.00006), (0.0, 0.99598, 0.0, 0.08961)),
    "Skeleton_arm_joint_L__3_": ("Skeleton_arm_joint_L__4_", (0.01322, 0.2155, 0.10933), (0.0, -0.07117, 0.0, -0.99746)),
    "Skeleton_arm_joint_L__2_": ("Skeleton_arm_joint_L__3_", (-0.09332, 0.143, 0.07815), (0.0, -0.02254, 0.0, -0.99975)),
    "Skeleton_neck_joint_1": ("torso_joint_3", (0.0, 0.0, 0.06484), (0.0, -0.66063, 0.0, -0.75071)),
    "Skeleton_neck_joint_2": ("Skeleton_neck_joint_1", (-0.05204, 0.0, 0.0), (0.0, 0.99969, 0.0, 0.02488)),
}
# The joints the SCAIL skeleton takes from CesiumMan: SMPL joint -> bone whose head it is.
CESIUM_MAN_JOINTS = {
    "left_hip": "leg_joint_L_1", "right_hip": "leg_joint_R_1", "left_knee": "leg_joint_L_2",
    "right_knee": "leg_joint_R_2", "left_ankle": "leg_joint_L_3", "right_ankle": "leg_joint_R_3",
    "neck": "Skeleton_neck_joint_1", "head": "Skeleton_neck_joint_2",
    "left_shoulder": "Skeleton_arm_joint_L__4_", "right_shoulder": "Skeleton_arm_joint_R",
    "left_elbow": "Skeleton_arm_joint_L__3_", "right_elbow": "Skeleton_arm_joint_R__2_",
    "left_wrist": "Skeleton_arm_joint_L__2_", "right_wrist": "Skeleton_arm_joint_R__3_",
}
# Khronos' BrainStem sample (glTF-Sample-Models, 2.0/BrainStem), likewise: a robot whose three
# finger joints hang straight from the left forearm, whose right forearm ends the arm and whose
# head sits on the chest; "Node2" is the unnamed node that turns the joints upright (its
# joints are named by the older "jointName" field).
BRAIN_STEM = {
    "Node2": (None, (0.0, 0.0, 0.0), (-0.70711, 0.00048, 0.00048, -0.70711)),
    "Hip": ("Node2", (0.0, 0.91483, 0.0), (0.0, -0.00068, 0.0, -1.0)),
    "Left_Thigh": ("Hip", (0.14155, -0.03932, 0.0), (0.73884, 0.0, -0.67169, -0.05441)),
    "Left_Shin": ("Left_Thigh", (0.0, 0.35862, 0.0), (0.02620, -0.52830, 0.01509, -0.84852)),
    "Left_Foot": ("Left_Shin", (0.0, 0.39690, 0.0), (0.45504, -0.16151, -0.07668, -0.87234)),
    "lToe": ("Left_Foot", (0.0, 0.12855, 0.0), (0.90336, 0.0, 0.0, -0.42888)),
    "Right_Thigh": ("Hip", (-0.14155, -0.03932, 0.0), (0.73884, 0.0, 0.67169, -0.05441)),
    "Right_Shin": ("Right_Thigh", (0.0, 0.35862, 0.0), (0.02620, 0.52830, -0.01509, -0.84852)),
    "Right_Foot": ("Right_Shin", (0.0, 0.39690, 0.0), (0.45504, 0.16151, 0.07668, -0.87234)),
    "rToe": ("Right_Foot", (0.0, 0.12855, 0.0), (0.90336, 0.0, 0.0, -0.42888)),
    "Chest": ("Hip", (0.0, 0.10747, -0.02359), (0.0, 0.0, 0.0, -1.0)),
    "Left_Shoulder": ("Chest", (0.41940, 0.34077, -0.01311), (0.00978, 0.0, 0.69207, -0.72176)),
    "Left_Forearm": ("Left_Shoulder", (0.0, 0.18572, 0.0), (-0.00978, 0.0, -0.69207, -0.72176)),
    "lThumb1": ("Left_Forearm", (0.41257, -0.02168, 0.05501), (0.0, 0.0, 0.0, -1.0)),
    "lPinky1": ("Left_Forearm", (0.41193, 0.02159, 0.05764), (0.0, 0.0, 0.0, -1.0)),
    "lMid1": ("Left_Forearm", (0.40949, 0.00271, 0.01573), (0.0, 0.0, 0.0, -1.0)),
    "Right_Shoulder": ("Chest", (-0.41940, 0.34077, -0.01311), (0.00935, 0.0, -0.68246, -0.73086)),
    "Right_Forearm": ("Right_Shoulder", (0.0, 0.19182, 0.0), (-0.00935, 0.0, 0.68246, -0.73086)),
    "Head": ("Chest", (0.0, 0.52426, -0.01573), (0.0, 0.0, 0.0, -1.0)),
}
# CesiumMan's "Armature" node: a -90 degree turn about z (row-major).
CESIUM_MAN_ARMATURE = np.array([[0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
# glTF's Y-up axes to Blender's Z-up: (x, y, z) -> (x, -z, y).
GLTF_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def quat_matrix(q: tuple[float, float, float, float]) -> np.ndarray:
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def joint_worlds(joints: dict) -> dict[str, np.ndarray]:
    """Each joint's 4x4 rest transform in the space of the node above the joints (glTF axes)."""
    out: dict[str, np.ndarray] = {}
    for name, (parent, translation, rotation) in joints.items():  # parents come first
        local = np.eye(4)
        local[:3, :3], local[:3, 3] = quat_matrix(rotation), translation
        out[name] = local if parent is None else out[parent] @ local
    return out


def imported_gltf_bones(joints: dict) -> list[BoneInfo]:
    """The bones Blender's glTF importer makes of ``joints`` of one root (armature space: the
    node above the joints is the armature object): heads at the joints, each bone along its
    joint's +Y, as long as the step to its first child (a leaf: as its parent). These tails are
    the importer's choice, not data."""
    worlds = joint_worlds(joints)
    children = {n: [c for c, (p, *_rest) in joints.items() if p == n] for n in joints}
    length: dict[str, float] = {}
    for name in joints:
        if children[name]:
            length[name] = float(np.linalg.norm(worlds[children[name][0]][:3, 3] - worlds[name][:3, 3]))
    for name, (parent, *_rest) in joints.items():
        length.setdefault(name, length.get(parent, 0.1) if parent else 0.1)
    out = []
    for name, (parent, *_rest) in joints.items():
        head = GLTF_TO_BLENDER @ worlds[name][:3, 3]
        tail = head + length[name] * (GLTF_TO_BLENDER @ worlds[name][:3, 1])
        out.append(BoneInfo(name, parent, tuple(head), tuple(tail)))
    return out


def write_skinned_gltf(joints: dict, path: str | Path, armature: np.ndarray | None = None) -> None:
    """A .glb of ``joints`` as glTF joints of one skin (inverse bind matrices from the rest
    transforms), under an "Armature" node with matrix ``armature`` (4x4, default identity) and a
    Z-up node, with a small triangle skinned to each joint, so Blender's importer makes an
    armature of them."""
    worlds = joint_worlds(joints)
    names = list(joints)
    builder = GlbBuilder(doc={"asset": {"version": "2.0", "generator": "scail-blender tests"}})
    index = {name: 3 + k for k, name in enumerate(names)}
    z_up = np.eye(4)
    z_up[:3, :3] = GLTF_TO_BLENDER.T
    nodes = [{"name": "Z_UP", "children": [1], "matrix": _column_major(z_up)},
             {"name": "Armature", "children": [index[names[0]], 2],
              "matrix": _column_major(np.eye(4) if armature is None else armature)},
             {"name": "Body", "mesh": 0, "skin": 0}]
    for name in names:
        parent, translation, rotation = joints[name]
        node = {"name": name, "translation": list(translation), "rotation": list(rotation)}
        kids = [index[c] for c in names if joints[c][0] == name]
        if kids:
            node["children"] = kids
        nodes.append(node)
    corners = np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [0.0, 0.01, 0.0]])
    verts = np.concatenate([worlds[n][:3, 3] + corners for n in names]).astype(np.float32)
    skin_joints = np.zeros((len(verts), 4), np.uint16)
    skin_joints[:, 0] = np.repeat(np.arange(len(names)), 3)
    weights = np.zeros((len(verts), 4), np.float32)
    weights[:, 0] = 1.0
    primitive = {"attributes": {
        "POSITION": builder.add_accessor(verts, "VEC3", target=ARRAY_BUFFER, bounds=True),
        "JOINTS_0": builder.add_accessor(skin_joints, "VEC4", target=ARRAY_BUFFER),
        "WEIGHTS_0": builder.add_accessor(weights, "VEC4", target=ARRAY_BUFFER)},
        "indices": builder.add_accessor(np.arange(len(verts), dtype=np.uint32), "SCALAR", target=ELEMENT_ARRAY_BUFFER)}
    inverse = np.array([np.linalg.inv(worlds[n]) for n in names], dtype=np.float32)
    builder.doc.update(nodes=nodes, meshes=[{"name": "Body", "primitives": [primitive]}], scene=0,
                       scenes=[{"nodes": [0]}],
                       skins=[{"joints": [index[n] for n in names], "skeleton": index[names[0]],
                               "inverseBindMatrices": builder.add_accessor(inverse, "MAT4")}])
    Path(path).write_bytes(builder.to_bytes())


def _column_major(matrix: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(matrix).T.reshape(-1)]


def gltf_joints(bones: list[BoneInfo]) -> dict:
    """``bones`` as joints for ``write_skinned_gltf`` (which hangs them under a Z-up node, as
    CesiumMan's are): parents first, unturned, each placed at its head."""
    by_name = {b.name: b for b in bones}
    order: list[str] = []
    while len(order) < len(bones):
        order += [b.name for b in bones if b.name not in order and (b.parent is None or b.parent in order)]
    joints = {}
    for name in order:
        bone = by_name[name]
        base = np.zeros(3) if bone.parent is None else np.asarray(by_name[bone.parent].head)
        joints[name] = (bone.parent, tuple(float(v) for v in np.asarray(bone.head) - base), (0.0, 0.0, 0.0, 1.0))
    return joints


def generic_names(bones: list[BoneInfo]) -> tuple[list[BoneInfo], dict[str, str]]:
    """The same bones named as exporters leave them (Bone, Bone.001, ...), and generic -> original."""
    names = {b.name: "Bone" if i == 0 else f"Bone.{i:03d}" for i, b in enumerate(bones)}
    out = [BoneInfo(names[b.name], names.get(b.parent) if b.parent else None, b.head, b.tail, b.use_deform)
           for b in bones]
    return out, {new: old for old, new in names.items()}


def _between(a, b, t: float) -> tuple:
    return tuple(float(v) for v in np.add(a, t * np.subtract(b, a)))


def _moved(point, offset) -> tuple:
    return tuple(float(v) for v in np.add(point, offset))


def with_twist_bones(bones: list[BoneInfo]) -> list[BoneInfo]:
    """A Mixamo-named rig with Unreal-style twist bones beside the upper arm, forearm and shank
    (leaves along the limb) and one inside each thigh (the shank hangs from it)."""
    by = {b.name: b for b in bones}
    out = [b for b in bones if b.name not in {f"{side}{part}" for side in ("Left", "Right") for part in ("UpLeg", "Leg")}]
    for side in ("Left", "Right"):
        arm, fore, thigh, shin = (by[f"{side}{part}"] for part in ("Arm", "ForeArm", "UpLeg", "Leg"))
        out.append(BoneInfo(f"{side}ArmTwist", arm.name, _between(arm.head, arm.tail, 0.5), _between(arm.head, arm.tail, 0.8)))
        for k, t in ((1, 0.33), (2, 0.66)):
            out.append(BoneInfo(f"{side}ForeArmTwist{k}", fore.name, _between(fore.head, fore.tail, t),
                                _between(fore.head, fore.tail, t + 0.2)))
        middle = _between(thigh.head, thigh.tail, 0.5)
        out.append(BoneInfo(thigh.name, thigh.parent, thigh.head, middle))
        out.append(BoneInfo(f"{side}UpLegTwist", thigh.name, middle, thigh.tail))
        out.append(BoneInfo(shin.name, f"{side}UpLegTwist", shin.head, shin.tail))
        out.append(BoneInfo(f"{side}LegTwist", shin.name, _between(shin.head, shin.tail, 0.5), _between(shin.head, shin.tail, 0.7)))
    return out


def with_helper_bones(bones: list[BoneInfo]) -> list[BoneInfo]:
    """A Mixamo-named rig with deforming helper and end bones (elbow and knee correctives,
    breasts, toe and head-top ends) and non-deforming controls away from the body."""
    by = {b.name: b for b in bones}
    out = list(bones)
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        arm, thigh, toe = by[f"{side}Arm"], by[f"{side}UpLeg"], by[f"{side}ToeBase"]
        out += [BoneInfo(f"{side}ElbowHelper", arm.name, arm.tail, _moved(arm.tail, (0.0, 0.08, 0.0))),
                BoneInfo(f"{side}KneeHelper", thigh.name, thigh.tail, _moved(thigh.tail, (0.0, -0.08, 0.0))),
                BoneInfo(f"{side}Breast", "Spine2", (0.1 * sign, -0.05, 1.4), (0.1 * sign, -0.15, 1.4)),
                BoneInfo(f"{side}Toe_End", toe.name, toe.tail, _moved(toe.tail, (0.0, -0.03, 0.0))),
                BoneInfo(f"{side}HandIK", None, (0.9 * sign, 0.3, 1.45), (0.9 * sign, 0.4, 1.45), use_deform=False),
                BoneInfo(f"{side}FootIK", None, (0.1 * sign, 0.0, 0.0), (0.1 * sign, 0.2, 0.0), use_deform=False)]
    out.append(BoneInfo("HeadTop_End", "Head", by["Head"].tail, _moved(by["Head"].tail, (0.0, 0.0, 0.05))))
    return out


def with_ik_bones(bones: list[BoneInfo]) -> list[BoneInfo]:
    """A Mixamo-named rig under a root bone at the floor that also carries Unreal-style IK bones
    (copies of the feet and hands), plus IK targets and knee poles as extra roots."""
    by = {b.name: b for b in bones}
    out = [BoneInfo("root", None, (0.0, 0.0, 0.0), (0.0, 0.1, 0.0)),
           BoneInfo("ik_foot_root", "root", (0.0, 0.0, 0.0), (0.0, 0.0, 0.1)),
           BoneInfo("ik_hand_root", "root", (0.0, 0.0, 0.0), (0.0, 0.0, 0.1)),
           BoneInfo("ik_hand_gun", "ik_hand_root", by["RightHand"].head, _moved(by["RightHand"].head, (0.0, 0.0, 0.1)))]
    out += [BoneInfo(b.name, "root" if b.parent is None else b.parent, b.head, b.tail) for b in bones]
    for side, short in (("Left", "l"), ("Right", "r")):
        foot, hand, knee = by[f"{side}Foot"].head, by[f"{side}Hand"].head, by[f"{side}Leg"].head
        out += [BoneInfo(f"ik_foot_{short}", "ik_foot_root", foot, _moved(foot, (0.0, 0.0, 0.1))),
                BoneInfo(f"ik_hand_{short}", "ik_hand_gun", hand, _moved(hand, (0.0, 0.0, 0.1))),
                BoneInfo(f"{side}HandTarget", None, hand, _moved(hand, (0.0, 0.1, 0.0))),
                BoneInfo(f"{side}KneePole", None, _moved(knee, (0.0, -0.5, 0.0)), _moved(knee, (0.0, -0.6, 0.0)))]
    return out


def with_neck_and_head_one_bone(bones: list[BoneInfo]) -> list[BoneInfo]:
    """A Mixamo-named rig whose neck and head are one bone from the neck's base to the crown."""
    crown = next(b.tail for b in bones if b.name == "Head")
    return [BoneInfo(b.name, b.parent, b.head, crown if b.name == "Neck" else b.tail) for b in bones if b.name != "Head"]


def with_arms_on_two_spine_bones(bones: list[BoneInfo]) -> list[BoneInfo]:
    """A Mixamo-named rig whose left arm hangs from the spine bone below the right arm's."""
    return [BoneInfo(b.name, "Spine1" if b.name == "LeftShoulder" else b.parent, b.head, b.tail) for b in bones]


def rest_points(bones: Sequence[BoneInfo], bonemap: BoneMap) -> np.ndarray:
    """All 71 points of ``bonemap`` at the rest pose, armature space, NaN where unmapped: what a
    mapping put where, for the tests to hold against the skeleton it was made from."""
    by_name = {b.name: b for b in bones}
    needed = bonemap.bones()
    return sources_points(bonemap.sources(), {n: by_name[n].rest_matrix() for n in needed},
                          {n: by_name[n].length for n in needed})
