"""Face marks (nose, eyes, ears) from the head's own mesh.

A head bone says little about where the face is: rigs put its head at the skull base, the jaw
or the neck, its tail at the crown or anywhere above, and BVH end sites are a millimetre long.
The vertices weighted to the head bone are the head itself, so their extent in the
character's own axes (left, up, forward) places the face: the nose is the most forward point
near the middle of the face, the eyes sit a little above it and to each side on the front
surface, the ears on the sides of the head between eye and nose height. All maths here works
on plain arrays; the Blender skin reads the vertices (blender/armature.py).
"""

from __future__ import annotations

import numpy as np

# Fewer vertices than this cannot describe a head.
MIN_VERTICES = 12
# Offsets in shares of the head's height (eye above the nose tip) and width (eye off the middle),
# from adult head proportions: head about 23 cm high and 15 cm wide, eyes 6.3 cm apart and about
# 3.5 cm above the nose tip, the ear canal half-way between eye and nose tip in height.
EYE_ABOVE_NOSE = 0.15
EYE_OFF_MIDDLE = 0.21
BAND = 0.12


def face_axes(left: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """Rows (left, up, forward), orthonormal; None when the directions are degenerate."""
    left = np.asarray(left, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    if np.linalg.norm(left) == 0:
        return None
    left = left / np.linalg.norm(left)
    up = up - left * float(up @ left)
    if np.linalg.norm(up) == 0:
        return None
    up = up / np.linalg.norm(up)
    return np.stack([left, up, np.cross(left, up)])


def marks_from_head_mesh(points: np.ndarray, axes: np.ndarray) -> dict[str, np.ndarray] | None:
    """Nose, eyes and ears (same space as ``points``) from the head's vertices, or None when the
    vertices are too few or flat to be a head. ``axes``: rows left, up, forward (face_axes)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) < MIN_VERTICES:
        return None
    local = pts @ axes.T  # columns: left, up, forward
    lo, hi = local.min(0), local.max(0)
    width, height, depth = hi - lo
    if min(width, height, depth) <= 0:
        return None
    middle = (lo[0] + hi[0]) / 2
    central = (np.abs(local[:, 0] - middle) < BAND * width) & \
        (local[:, 1] > lo[1] + 0.25 * height) & (local[:, 1] < lo[1] + 0.8 * height)
    if central.any():
        nose = local[central][np.argmax(local[central][:, 2])]
    else:
        nose = np.array([middle, lo[1] + 0.45 * height, hi[2]])
    eye_up = nose[1] + EYE_ABOVE_NOSE * height
    ear_up = (nose[1] + eye_up) / 2
    out = {"nose": nose}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        eye_x = middle + sign * EYE_OFF_MIDDLE * width
        near = (np.abs(local[:, 0] - eye_x) < 0.5 * BAND * width) & (np.abs(local[:, 1] - eye_up) < 0.5 * BAND * height)
        eye_z = local[near][:, 2].max() if near.any() else nose[2] - 0.12 * depth
        out[f"{side}_eye"] = np.array([eye_x, eye_up, eye_z])
        level = np.abs(local[:, 1] - ear_up) < BAND * height
        row = local[level] if level.any() else local
        outer = row[np.argmax(sign * row[:, 0])]
        out[f"{side}_ear"] = np.array([outer[0], ear_up, outer[2]])
    return {name: axes.T @ p for name, p in out.items()}
