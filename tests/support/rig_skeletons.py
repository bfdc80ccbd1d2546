"""A human skeleton (Blender axes: Z up, facing -Y, character's left at +X, metres) spelled in
several rig conventions, for the bone-mapping and extraction tests."""

from __future__ import annotations

from scail_blender.rig.bonemap import BoneInfo

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
