"""SMPL joint positions -> an editable skeleton: rest pose, per-frame rotations, local keys.

Both rigged outputs need this: the skinned GLB writer (``skinned_glb``) and Blender's Import
Motion (``blender/build_rig``). Bones aim at their children (several children also fix the
twist) and every joint also keeps its translation, so positions stay exact where captured bone
lengths vary per frame. Positions here are glTF-style: OpenCV camera space with y and z flipped,
in metres.
"""

from __future__ import annotations

import numpy as np

from .model import JOINT_COUNT, Motion
from .rotations import align, continuous, matrix_to_quat
from .smpl import REST_JOINTS, SMPL_PARENTS

# OpenCV camera space (mm) -> glTF (m): flip y and z.
FLIP = np.array([1.0, -1.0, -1.0])
CHILDREN = tuple(tuple(c for c, p in enumerate(SMPL_PARENTS) if p == j) for j in range(JOINT_COUNT))


def person_world(motion: Motion, person: int, present: np.ndarray) -> np.ndarray:
    """One person's joints [T, 24, 3] in glTF axes and metres; absent frames hold a pose."""
    return held_pose(motion.joints[:, person].astype(np.float64) * FLIP / 1000.0, present[:, person])


def held_pose(world: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Absent frames take the nearest present frame's pose, so nothing flies to the origin."""
    index = np.flatnonzero(present)
    nearest = index[np.abs(np.arange(len(present))[:, None] - index[None]).argmin(axis=1)]
    return world[nearest]


def rest_from_motion(world: np.ndarray) -> np.ndarray:
    """SMPL's rest pose with this person's median bone lengths, pelvis at the origin."""
    rest = np.zeros((JOINT_COUNT, 3))
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            template = REST_JOINTS[j] - REST_JOINTS[p]
            length = np.median(np.linalg.norm(world[:, j] - world[:, p], axis=-1))
            rest[j] = rest[p] + template / np.linalg.norm(template) * max(float(length), 1e-3)
    return rest


def global_rotations(world: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Per frame, each joint's rotation [T, 24, 3, 3] from its rest pose: bones aim at their
    children (several children also fix the twist); end joints follow their parent."""
    frames = world.shape[0]
    rotations = np.zeros((frames, JOINT_COUNT, 3, 3))
    for j in range(JOINT_COUNT):
        kids = CHILDREN[j]
        if kids:
            rest_vecs = np.stack([rest[c] - rest[j] for c in kids])
            cur_vecs = np.stack([world[:, c] - world[:, j] for c in kids], 1)
            rotations[:, j] = align(rest_vecs, cur_vecs)
        else:
            rotations[:, j] = rotations[:, SMPL_PARENTS[j]]
    return rotations


def local_animation(world: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local translations [T, 24, 3] and rotations [T, 24, 4] that put every joint at ``world``."""
    global_r = global_rotations(world, rest)
    local_t = np.zeros(world.shape)
    local_r = np.zeros_like(global_r)
    for j, p in enumerate(SMPL_PARENTS):
        if p < 0:
            local_t[:, j], local_r[:, j] = world[:, j], global_r[:, j]
        else:
            inv = np.swapaxes(global_r[:, p], -1, -2)
            local_t[:, j] = np.einsum("tij,tj->ti", inv, world[:, j] - world[:, p])
            local_r[:, j] = inv @ global_r[:, j]
    return local_t, continuous(matrix_to_quat(local_r))
