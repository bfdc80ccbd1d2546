"""Built-in procedural motion: a walk, a dance, and two people crossing (one occludes the other).

Tests, the benchmark and the demo need believable SCAIL input without capture files or model
weights. The people are driven by forward kinematics on a rest skeleton with SMPL-24 joint
placement (mm), then put into OpenCV camera space in front of a camera about 1 m above the
floor, the framing NLF produces for full-body footage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

# SMPL parents and rest offsets from the parent (mm) in a body frame: X = subject's left,
# Y = up, Z = forward. Arms hang down; the figure is about 1.7 m tall.
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
REST_OFFSETS = np.array([
    (0, 0, 0), (90, -80, 0), (-90, -80, 0), (0, 110, -10), (0, -380, 10), (0, -380, 10),
    (0, 130, 0), (0, -400, -30), (0, -400, -30), (0, 60, 10), (0, -50, 120), (0, -50, 120),
    (0, 220, -20), (80, 150, 0), (-80, 150, 0), (0, 100, 40), (100, 30, -10), (-100, 30, -10),
    (15, -265, 0), (-15, -265, 0), (5, -245, 10), (-5, -245, 10), (0, -85, 10), (0, -85, 10),
], dtype=np.float64)
PELVIS_HEIGHT = 930.0
CAMERA_HEIGHT = 1000.0


@dataclass
class SyntheticClip:
    """SMPL-24 joints [T, P, 24, 3] plus head marks [T, P, 5, 3] and hands [T, P, 2, 21, 3] (mm)."""

    joints: np.ndarray
    head3d: np.ndarray
    hands3d: np.ndarray
    fps: float


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] about body axis 0 (X), 1 (Y) or 2 (Z)."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m[..., axis, axis] = 1
    m[..., i, i] = c
    m[..., j, j] = c
    m[..., i, j] = -s
    m[..., j, i] = s
    return m


def _swing(angle: np.ndarray) -> np.ndarray:
    """Swing a hanging limb forward (+Z) by ``angle``."""
    return _rot(0, -np.asarray(angle))


class _Pose:
    """Local joint rotations for T frames, identity unless set."""

    def __init__(self, frames: int) -> None:
        self.local = np.broadcast_to(np.eye(3), (frames, 24, 3, 3)).copy()

    def turn(self, joint: int, rotation: np.ndarray) -> None:
        self.local[:, joint] = self.local[:, joint] @ rotation


def _forward_kinematics(pose: _Pose) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions [T, 24, 3] and global rotations [T, 24, 3, 3] in the body frame."""
    frames = pose.local.shape[0]
    pos = np.zeros((frames, 24, 3))
    rot = np.zeros((frames, 24, 3, 3))
    for j, parent in enumerate(PARENTS):
        if parent < 0:
            rot[:, j] = pose.local[:, j]
            continue
        pos[:, j] = pos[:, parent] + np.einsum("tab,b->ta", rot[:, parent], REST_OFFSETS[j])
        rot[:, j] = rot[:, parent] @ pose.local[:, j]
    return pos, rot


def _head_and_hands(pos: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face marks around the head joint and 21-point hands spread from the wrists (body frame)."""
    head_local = np.array([(0, 10, 105), (-32, 45, 85), (32, 45, 85), (-72, 20, 0), (72, 20, 0)], float)
    head = pos[:, 15, None] + np.einsum("tab,kb->tka", rot[:, 15], head_local)
    hands = np.zeros(pos.shape[:1] + (2, 21, 3))
    for side, (wrist, sign) in enumerate(((20, 1.0), (21, -1.0))):
        points = [np.zeros(3)]
        for finger in range(5):
            spread = (finger - 1.5) * 18.0 * sign
            for joint in range(1, 5):
                points.append((spread * (1 + 0.15 * joint), -(25 + 22 * joint), 8.0 if finger == 0 else 0.0))
        local = np.array(points)
        local[1:5, 0] += 25 * sign
        hands[:, side] = pos[:, wrist, None] + np.einsum("tab,kb->tka", rot[:, wrist], local)
    return head, hands


def _to_camera(points: np.ndarray, yaw: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Body-frame points [T, ..., 3] (pelvis at origin) to OpenCV camera space.

    ``yaw`` turns the body (0 = facing the camera); ``root`` [T, 3] is the pelvis position.
    """
    turned = np.einsum("tab,t...b->t...a", _rot(1, yaw), points)
    cam = np.stack((turned[..., 0], -turned[..., 1], -turned[..., 2]), axis=-1)
    return cam + root.reshape(root.shape[:1] + (1,) * (cam.ndim - 2) + (3,))


def _person(pose: _Pose, yaw: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos, rot = _forward_kinematics(pose)
    head, hands = _head_and_hands(pos, rot)
    return tuple(_to_camera(p, yaw, root).astype(np.float32) for p in (pos, head, hands))


def _walker(frames: int, fps: float, start: tuple[float, float], end: tuple[float, float]) -> tuple:
    """A person walking in a straight line from (x, z) ``start`` to ``end`` (camera space, mm)."""
    time = np.arange(frames) / fps
    phase = 2 * np.pi * 0.9 * time
    pose = _Pose(frames)
    for hip, knee, sign in ((1, 4, 1.0), (2, 5, -1.0)):
        pose.turn(hip, _swing(0.42 * sign * np.sin(phase)))
        pose.turn(knee, _rot(0, 0.15 + 0.55 * np.clip(np.sin(phase * sign + np.pi * 0.6 * sign), 0, None)))
    for shoulder, elbow, sign in ((16, 18, 1.0), (17, 19, -1.0)):
        pose.turn(shoulder, _swing(-0.35 * sign * np.sin(phase)) @ _rot(2, 0.12 * sign))
        pose.turn(elbow, _swing(0.35 + 0.2 * np.sin(phase) * -sign))
    pose.turn(3, _rot(1, 0.08 * np.sin(phase)))
    s = np.linspace(0.0, 1.0, frames)
    x = start[0] + (end[0] - start[0]) * s
    z = start[1] + (end[1] - start[1]) * s
    yaw = np.full(frames, np.arctan2(end[0] - start[0], -(end[1] - start[1])))
    bob = 15 * np.cos(2 * phase)
    root = np.stack((x, CAMERA_HEIGHT - PELVIS_HEIGHT + bob, z), axis=1)
    return _person(pose, yaw, root)


def _dancer(frames: int, fps: float, x: float, z: float) -> tuple:
    """A person dancing on the spot: arms raised and lowered, hips swaying, turning."""
    time = np.arange(frames) / fps
    beat = 2 * np.pi * 1.0 * time
    pose = _Pose(frames)
    for shoulder, elbow, sign, offset in ((16, 18, 1.0, 0.0), (17, 19, -1.0, np.pi)):
        raise_ = 1.2 + 0.9 * np.sin(beat + offset)
        pose.turn(shoulder, _rot(2, sign * raise_) @ _swing(0.3 * np.sin(beat / 2)))
        pose.turn(elbow, _swing(0.4 + 0.5 * (1 + np.sin(beat * 2 + offset)) / 2))
    bounce = 0.25 * (1 + np.sin(2 * beat)) / 2
    for hip, knee, sign in ((1, 4, 1.0), (2, 5, -1.0)):
        pose.turn(hip, _swing(bounce + 0.2 * sign * np.sin(beat)) @ _rot(2, 0.12 * sign))
        pose.turn(knee, _rot(0, 2 * bounce + 0.1))
    pose.turn(0, _rot(2, 0.12 * np.sin(beat)))
    pose.turn(9, _rot(2, -0.2 * np.sin(beat)))
    pose.turn(15, _rot(0, 0.15 * np.sin(beat * 2)))
    yaw = 0.6 * np.sin(beat / 4)
    drop = 180 * bounce
    root = np.stack((np.full(frames, x), CAMERA_HEIGHT - PELVIS_HEIGHT + drop, np.full(frames, z)), axis=1)
    return _person(pose, yaw, root)


def _clip(people: list[tuple], fps: float) -> SyntheticClip:
    joints, head, hands = (np.stack([p[i] for p in people], axis=1) for i in range(3))
    return SyntheticClip(joints, head, hands, fps)


def _check(frames: int, fps: float) -> None:
    if frames < 1 or not fps > 0:
        raise InputError(f"a synthetic clip needs frames >= 1 and fps > 0, got {frames} frames at {fps} fps")


def walking(frames: int = 81, fps: float = 16.0) -> SyntheticClip:
    """One person walking across the view while coming closer."""
    _check(frames, fps)
    return _clip([_walker(frames, fps, (-900.0, 4300.0), (900.0, 3500.0))], fps)


def dancing(frames: int = 81, fps: float = 16.0) -> SyntheticClip:
    """One person dancing in the middle of the view."""
    _check(frames, fps)
    return _clip([_dancer(frames, fps, 0.0, 3800.0)], fps)


def crossing(frames: int = 81, fps: float = 16.0) -> SyntheticClip:
    """A dancer at the back while a walker passes in front of them (mutual occlusion)."""
    _check(frames, fps)
    return _clip([_dancer(frames, fps, 0.0, 4200.0), _walker(frames, fps, (1500.0, 2900.0), (-1500.0, 2900.0))], fps)


CLIPS = {"walking": walking, "dancing": dancing, "crossing": crossing}
