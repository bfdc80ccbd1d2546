"""Name tables for the rig conventions people bring to Blender.

Each table maps a body role to the canonical bone names (see names.py) that carry it in that
convention, best first. A name ending in ``:tail`` means the joint sits at that bone's tail
(the SMPL foot joint is the ball of the foot: the end of the foot bone). Side-specific roles
are looked up on both sides. The tables were checked against the real rigs where the bpy module
can build them (Rigify metarig and generated rig, BVH import); the others follow the
conventions' published bone lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# SMPL joint index -> (role, side). Side "" is the body's centre line.
SMPL_ROLES: tuple[tuple[str, str], ...] = (
    ("pelvis", ""), ("hip", "L"), ("hip", "R"), ("spine1", ""), ("knee", "L"), ("knee", "R"),
    ("spine2", ""), ("ankle", "L"), ("ankle", "R"), ("spine3", ""), ("foot", "L"), ("foot", "R"),
    ("neck", ""), ("collar", "L"), ("collar", "R"), ("head", ""), ("shoulder", "L"), ("shoulder", "R"),
    ("elbow", "L"), ("elbow", "R"), ("wrist", "L"), ("wrist", "R"), ("hand", "L"), ("hand", "R"),
)

FINGERS = ("thumb", "index", "middle", "ring", "pinky")


@dataclass(frozen=True)
class Preset:
    name: str
    body: dict[str, tuple[str, ...]]
    # finger -> numbered base stems; "findex" matches findex1, findex2, findex3.
    fingers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # "eye", "ear" (sided) and "nose" (centre) -> bone specs.
    face: dict[str, tuple[str, ...]] = field(default_factory=dict)


_GENERIC_FINGERS = {
    "thumb": ("thumb",), "index": ("index",), "middle": ("middle",), "ring": ("ring",),
    "pinky": ("pinky", "little"),
}

RIGIFY = Preset(
    "Rigify",
    {
        "pelvis": ("spine",), "hip": ("thigh",), "spine1": ("spine1",), "knee": ("shin",),
        "spine2": ("spine2",), "ankle": ("foot",), "spine3": ("spine3",), "foot": ("toe", "foot:tail"),
        "neck": ("spine4", "neck"), "collar": ("shoulder",), "head": ("spine6", "head"),
        "shoulder": ("upperarm",), "elbow": ("forearm",), "wrist": ("hand",),
        "hand": ("fmiddle1", "hand:tail"),
    },
    {"thumb": ("thumb",), "index": ("findex",), "middle": ("fmiddle",), "ring": ("fring",),
     "pinky": ("fpinky",)},
    # The eye bone points out of the eyeball: its tail is the front of the eye. nose2 starts
    # at the tip of the nose.
    {"eye": ("eye:tail",), "ear": ("ear",), "nose": ("nose2",)},
)

MIXAMO = Preset(
    "Mixamo",
    {
        "pelvis": ("hips",), "hip": ("upleg",), "spine1": ("spine",), "knee": ("leg",),
        "spine2": ("spine1",), "ankle": ("foot",), "spine3": ("spine2",), "foot": ("toebase", "foot:tail"),
        "neck": ("neck",), "collar": ("shoulder",), "head": ("head",), "shoulder": ("arm",),
        "elbow": ("forearm",), "wrist": ("hand",), "hand": ("handmiddle1", "hand:tail"),
    },
    {"thumb": ("handthumb",), "index": ("handindex",), "middle": ("handmiddle",),
     "ring": ("handring",), "pinky": ("handpinky",)},
    {"eye": ("eye",)},
)

# CMU motion-capture BVH files as converted for Blender/MotionBuilder (Hips, LHipJoint,
# LeftUpLeg, LowerBack, Spine, Spine1, Neck, Neck1, Head, LeftShoulder, LeftArm, ...).
CMU_BVH = Preset(
    "CMU/BVH",
    {
        "pelvis": ("hips",), "hip": ("upleg",), "spine1": ("lowerback",), "knee": ("leg",),
        "spine2": ("spine",), "ankle": ("foot",), "spine3": ("spine1",), "foot": ("toebase", "foot:tail"),
        "neck": ("neck",), "collar": ("shoulder",), "head": ("head",), "shoulder": ("arm",),
        "elbow": ("forearm",), "wrist": ("hand",), "hand": ("fingerbase", "hand:tail"),
    },
)

UNREAL = Preset(
    "Unreal mannequin",
    {
        "pelvis": ("pelvis",), "hip": ("thigh",), "spine1": ("spine1",), "knee": ("calf",),
        "spine2": ("spine2",), "ankle": ("foot",), "spine3": ("spine3",), "foot": ("ball", "foot:tail"),
        "neck": ("neck1",), "collar": ("clavicle",), "head": ("head",), "shoulder": ("upperarm",),
        "elbow": ("lowerarm",), "wrist": ("hand",), "hand": ("middle1", "hand:tail"),
    },
    _GENERIC_FINGERS,
    {"eye": ("eye",)},
)

# SMPL (Meshcapade add-on: L_Hip, Spine1, L_Collar, ...) and SMPL-X (left_hip, left_eye_smplhf):
# every bone is named after the joint at its head.
SMPL = Preset(
    "SMPL/SMPL-X",
    {
        "pelvis": ("pelvis",), "hip": ("hip",), "spine1": ("spine1",), "knee": ("knee",),
        "spine2": ("spine2",), "ankle": ("ankle",), "spine3": ("spine3",), "foot": ("foot",),
        "neck": ("neck",), "collar": ("collar",), "head": ("head",), "shoulder": ("shoulder",),
        "elbow": ("elbow",), "wrist": ("wrist",), "hand": ("hand", "wrist:tail"),
    },
    _GENERIC_FINGERS,
    {"eye": ("eyesmplhf", "eye")},
)

# VRM 0.x as exported by VRoid (J_Bip_L_UpperArm) and the VRM/Unity humanoid names
# (LeftUpperArm, LeftThumbProximal).
VRM = Preset(
    "VRM/VRoid",
    {
        "pelvis": ("hips",), "hip": ("upperleg",), "spine1": ("spine",), "knee": ("lowerleg",),
        "spine2": ("chest",), "ankle": ("foot",), "spine3": ("upperchest",), "foot": ("toebase", "toes", "foot:tail"),
        "neck": ("neck",), "collar": ("shoulder",), "head": ("head",), "shoulder": ("upperarm",),
        "elbow": ("lowerarm",), "wrist": ("hand",), "hand": ("middle1", "hand:tail"),
    },
    _GENERIC_FINGERS,
    {"eye": ("faceeye", "eye")},
)

# MakeHuman default skeleton, also used by MPFB: spine05 is the lowest vertebra, finger1 is
# the thumb and finger5 the little finger.
MAKEHUMAN = Preset(
    "MakeHuman/MPFB",
    {
        "pelvis": ("root",), "hip": ("upperleg1",), "spine1": ("spine4",), "knee": ("lowerleg1",),
        "spine2": ("spine3",), "ankle": ("foot",), "spine3": ("spine2",), "foot": ("toe11", "foot:tail"),
        "neck": ("neck1",), "collar": ("clavicle",), "head": ("head",), "shoulder": ("upperarm1",),
        "elbow": ("lowerarm1",), "wrist": ("wrist",), "hand": ("finger31", "wrist:tail"),
    },
    {"thumb": ("finger1",), "index": ("finger2",), "middle": ("finger3",), "ring": ("finger4",),
     "pinky": ("finger5",)},
    {"eye": ("eye",), "ear": ("ear",)},
)

PRESETS: dict[str, Preset] = {p.name: p for p in (RIGIFY, MIXAMO, CMU_BVH, UNREAL, SMPL, VRM, MAKEHUMAN)}


def unambiguous_fallbacks() -> dict[str, tuple[str, ...]]:
    """Names usable for a role outside their own preset: those no preset uses for another role.

    "shoulder" is the collar bone for Mixamo but the upper arm for SMPL, so it is never
    borrowed; "forearm" always means the elbow, so a rig with Mixamo legs and Rigify arms
    still maps.
    """
    roles_of: dict[str, set[str]] = {}
    for preset in PRESETS.values():
        for role, specs in preset.body.items():
            for spec in specs:
                roles_of.setdefault(spec, set()).add(role)
    table: dict[str, list[str]] = {}
    for preset in PRESETS.values():
        for role, specs in preset.body.items():
            for spec in specs:
                if roles_of[spec] == {role} and spec not in table.setdefault(role, []):
                    table[role].append(spec)
    return {role: tuple(specs) for role, specs in table.items()}
