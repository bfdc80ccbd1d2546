"""The SCAIL skeleton: which SMPL joints it keeps, how they connect, and the limb colours.

SCAIL was trained on renders of 14 SMPL joints placed in OpenPose body slots, joined by 13
coloured capsules. The model reads identity (which limb, which side, which person) from those
colours, so the tables here are the exact ones of the official preprocessing (SCAIL-Pose,
``NLFPoseExtract/nlf_render.py``); changing a value changes what the model sees.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)

# Slot i of the SCAIL skeleton takes SMPL joint SLOT_FROM_SMPL[i]: head, neck, then the
# subject's right arm, left arm, right leg, left leg (OpenPose body order without eyes/ears).
SLOT_FROM_SMPL: tuple[int, ...] = (15, 12, 17, 19, 21, 16, 18, 20, 2, 5, 8, 1, 4, 7)
SLOT_NAMES: tuple[str, ...] = (
    "head", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle",
)
N_SLOTS = len(SLOT_FROM_SMPL)

# Limb k joins slots LIMBS[k]; both hips hang from the neck (there is no pelvis bone).
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0),
)
N_LIMBS = len(LIMBS)

# Capsules are emitted in this limb order; where two capsules touch equally (a shared joint
# sphere) the earlier one keeps the pixel.
DRAW_ORDER: tuple[int, ...] = (0, 2, 3, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12)


def _palette(rows: list[tuple[int, int, int]]) -> np.ndarray:
    table = np.array(rows, dtype=np.uint8)
    table.setflags(write=False)
    return table


# Rows follow LIMBS (not DRAW_ORDER).
BASE = _palette([
    (255, 0, 0), (0, 255, 255), (255, 85, 0), (255, 170, 0), (0, 170, 255), (0, 85, 255),
    (180, 255, 0), (0, 255, 0), (0, 255, 85), (0, 0, 255), (85, 0, 255), (170, 0, 255),
    (150, 150, 150),
])
# The official two-person palettes: the first (largest) person pastel, the second saturated.
PASTEL = _palette([
    (255, 150, 150), (180, 230, 240), (255, 180, 140), (255, 215, 150), (160, 200, 255),
    (100, 120, 255), (200, 255, 100), (100, 255, 100), (140, 255, 180), (120, 140, 255),
    (180, 90, 255), (190, 120, 255), (210, 210, 210),
])
SATURATED = _palette([
    (255, 20, 20), (0, 230, 255), (255, 60, 0), (255, 110, 0), (0, 130, 255), (0, 70, 255),
    (160, 255, 40), (0, 255, 50), (0, 255, 100), (0, 0, 255), (80, 0, 255), (160, 0, 255),
    (130, 130, 130),
])
# SCAIL has no palette for a third person. These keep the same hue per limb (so left/right
# stay readable) at lower brightness, which tells the extra people apart from the first two.
DEEP = _palette([tuple(int(c * 0.55) for c in row) for row in BASE.tolist()])
DUSK = _palette([tuple(int(c * 0.7) for c in row) for row in PASTEL.tolist()])

MULTI_PERSON_PALETTES: tuple[np.ndarray, ...] = (PASTEL, SATURATED, DEEP, DUSK)
SCHEMES: tuple[str, ...] = ("preview", "scail2")


def palettes_for(n_people: int, scheme: str = "preview") -> list[np.ndarray]:
    """Palette per person, as the official scripts assign them.

    ``preview`` (SCAIL-Preview): a lone person gets BASE. ``scail2`` (the SCAIL-2 script): a
    lone person gets SATURATED. Two or more people get PASTEL, SATURATED, then the extra
    palettes, repeating after those run out.
    """
    if scheme not in SCHEMES:
        raise InputError(f"unknown palette scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
    if n_people < 0:
        raise InputError(f"number of people must be >= 0, got {n_people}")
    if n_people == 1:
        return [BASE if scheme == "preview" else SATURATED]
    return [MULTI_PERSON_PALETTES[i % len(MULTI_PERSON_PALETTES)] for i in range(n_people)]


def smpl_to_scail(joints: np.ndarray) -> np.ndarray:
    """Pick the 14 SCAIL joints out of SMPL-24 joints (``[..., 24, 3]`` -> ``[..., 14, 3]``)."""
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2:] != (24, 3):
        raise InputError(f"SMPL joints must have shape [..., 24, 3], got {list(joints.shape)}")
    return joints[..., SLOT_FROM_SMPL, :]
