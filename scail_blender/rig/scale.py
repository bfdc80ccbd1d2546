"""Per-character scale to human size.

SCAIL's capsules are 21.5 mm thick and its depth shading spans metres, both tuned on real
people. A chibi, a giant or a rig built in centimetres would render as hairlines or blobs, so
each character gets a scale that makes its skeleton human-sized. The extractor applies it to
camera-space points about the camera centre, which leaves every projection where it was.
"""

from __future__ import annotations

import numpy as np

from .presets import SMPL_ROLES

HUMAN_HEIGHT_M = 1.70
# Heights (metres) taken as already human: such characters keep scale 1.
HUMAN_RANGE_M = (1.45, 2.05)
# Thigh + shank + hip-to-neck + neck-to-head as a share of standing height, from anthropometric
# segment tables (Drillis and Contini: thigh 0.245 H, shank 0.246 H, hip joint 0.530 H, base of
# the neck 0.830 H, SMPL head joint about 0.890 H). Blender's Rigify metarig gives 2.0 m, the
# height of its mesh.
SKELETON_SHARE_OF_HEIGHT = 0.851

_I = {role_side: i for i, role_side in enumerate(SMPL_ROLES)}


def skeleton_height(joints24: np.ndarray) -> float | None:
    """Standing height implied by rest-pose SMPL joints [24, 3] in metres (NaN = unmapped).

    Uses lengths along the body (legs, trunk, neck), not vertical extent, so it does not depend
    on the rest pose, the up axis or the armature's orientation. None when a needed joint is missing.
    """
    p = np.asarray(joints24, dtype=np.float64)
    needed = [_I[("hip", s)] for s in "LR"] + [_I[("knee", s)] for s in "LR"] + \
        [_I[("ankle", s)] for s in "LR"] + [_I[("neck", "")], _I[("head", "")]]
    if np.isnan(p[needed]).any():
        return None

    def dist(a: tuple[str, str], b: tuple[str, str]) -> float:
        return float(np.linalg.norm(p[_I[a]] - p[_I[b]]))

    leg = np.mean([dist(("hip", s), ("knee", s)) + dist(("knee", s), ("ankle", s)) for s in "LR"])
    mid_hip = (p[_I[("hip", "L")]] + p[_I[("hip", "R")]]) / 2
    trunk = float(np.linalg.norm(p[_I[("neck", "")]] - mid_hip))
    return float((leg + trunk + dist(("neck", ""), ("head", ""))) / SKELETON_SHARE_OF_HEIGHT)


def auto_scale(height_m: float | None, human_height_m: float = HUMAN_HEIGHT_M) -> float:
    """1 for human-sized characters, else the factor that makes them ``human_height_m`` tall."""
    if height_m is None or not np.isfinite(height_m) or height_m <= 0:
        return 1.0
    if HUMAN_RANGE_M[0] <= height_m <= HUMAN_RANGE_M[1]:
        return 1.0
    return human_height_m / height_m
