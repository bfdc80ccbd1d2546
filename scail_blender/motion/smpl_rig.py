"""SMPL joint positions -> an editable skeleton: rest pose, per-frame rotations, local keys.

Both rigged outputs need this: the skinned GLB writer (``skinned_glb``) and Blender's Import
Motion (``blender/build_rig``). Bones aim at their children (several children also fix the
twist) and every joint also keeps its translation, so positions stay exact where captured bone
lengths vary per frame. Positions here are glTF-style: OpenCV camera space with y and z flipped,
in metres.

A motion that carries SMPL pose parameters (``Motion.smpl``: parameter files, fitted meshes)
has more than positions: its real joint rotations, twist included. ``smpl_pose`` turns them
into a rig whose rest pose is the one those rotations act on (recovered from the joints, so it
is the user's body shape whether or not the file was read with their model), and whose joints
move only by rotation; editing a bone then turns its children as in SMPL itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import JOINT_COUNT, Motion
from .rotations import align, continuous, matrix_to_quat, quat_to_matrix, slerp
from .smpl import REST_JOINTS, SMPL_PARENTS, forward_kinematics, rodrigues

# OpenCV camera space (mm) -> glTF (m): flip y and z.
FLIP = np.array([1.0, -1.0, -1.0])
CHILDREN = tuple(tuple(c for c, p in enumerate(SMPL_PARENTS) if p == j) for j in range(JOINT_COUNT))
# Metres: kept SMPL parameters that miss the motion's joints by more than this do not describe
# them (edited joints, another skeleton); such a motion is rigged from its positions alone.
PARAMS_TOLERANCE = 0.01


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


@dataclass
class SmplPose:
    """One person's SMPL rig in glTF axes (metres): rest joints [24, 3] with the pelvis at the
    origin, local joint rotations [T, 24, 3, 3] (the root's turning the model into the world) and
    pelvis positions [T, 3]."""

    rest: np.ndarray
    local: np.ndarray
    root: np.ndarray

    def world(self) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions [T, 24, 3] and each joint's rotation from the rest pose [T, 24, 3, 3]."""
        posed = forward_kinematics(self.rest, self.local)
        return posed[:, :, :3, 3] + self.root[:, None], posed[:, :, :3, :3]

    def resampled(self, lower: np.ndarray, upper: np.ndarray, weight: np.ndarray) -> SmplPose:
        """The rig on another frame grid (``retime.sample_grid``): rotations slerped, pelvis lerped."""
        q = matrix_to_quat(self.local)
        local = quat_to_matrix(slerp(q[lower], q[upper], np.repeat(weight[:, None], JOINT_COUNT, axis=1)))
        w = weight[:, None].astype(np.float64)
        return SmplPose(self.rest, local, self.root[lower] * (1 - w) + self.root[upper] * w)


def smpl_pose(motion: Motion, person: int, present: np.ndarray) -> SmplPose | None:
    """The rig of one person's kept SMPL parameters; None when the motion has none, or when they
    do not reproduce its joints within ``PARAMS_TOLERANCE``."""
    if motion.smpl is None:
        return None
    world = person_world(motion, person, present)
    pose = held_pose(motion.smpl.pose[:, person].astype(np.float64), present[:, person])
    axis_angle = np.zeros((len(pose), JOINT_COUNT, 3))
    axis_angle[:, :22] = pose[:, :66].reshape(-1, 22, 3)  # SMPL-X: its body joints; the hand joints stay put
    if pose.shape[1] == 72:
        axis_angle[:, 22:] = pose[:, 66:72].reshape(-1, 2, 3)
    local = rodrigues(axis_angle)
    local[:, 0] = np.diag(FLIP) @ local[:, 0]  # the parameters are in OpenCV camera axes, the rig in glTF's
    turned = np.zeros_like(local)
    turned[:, 0] = local[:, 0]
    rest = np.zeros((JOINT_COUNT, 3))
    for j in range(1, JOINT_COUNT):
        p = SMPL_PARENTS[j]
        turned[:, j] = turned[:, p] @ local[:, j]
        # the bone as its parent's rest frame sees it: the same in every frame for true SMPL motion
        offsets = np.einsum("tji,tj->ti", turned[:, p], world[:, j] - world[:, p])
        rest[j] = rest[p] + offsets.mean(axis=0)
    rig = SmplPose(rest, local, world[:, 0].copy())
    positions, _ = rig.world()
    if np.abs(positions - world).max() > PARAMS_TOLERANCE:
        return None
    return rig
