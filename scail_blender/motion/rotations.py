"""Small batched rotation helpers (numpy) for turning joint positions into bone rotations."""

from __future__ import annotations

import numpy as np


def align(rest: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Rotations [T, 3, 3] taking the rest vectors [K, 3] onto the current ones [T, K, 3].

    One vector: the shortest rotation (no twist is observable). Several: the best fit in the
    least-squares sense (Kabsch), which fixes the twist too.
    """
    frames = current.shape[0]
    if rest.shape[0] == 1:
        return _shortest(np.broadcast_to(rest[0], (frames, 3)), current[:, 0])
    h = np.einsum("ki,tkj->tij", rest, current)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("tji,tkj->tik", vt, u)))
    fix = np.tile(np.eye(3), (frames, 1, 1))
    fix[:, 2, 2] = np.where(d == 0, 1.0, d)
    return np.einsum("tji,tjk,tlk->til", vt, fix, u)


def _shortest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True).clip(1e-12)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.einsum("ti,ti->t", a, b)
    # Opposite vectors: any axis perpendicular to a works.
    fallback = np.cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
    axis = np.where((sin < 1e-9)[:, None], fallback, axis)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True).clip(1e-12)
    angle = np.arctan2(sin, cos)
    return axis_angle_matrix(axis, angle)


def axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    x, y, z = np.moveaxis(axis, -1, 0)
    c, s = np.cos(angle), np.sin(angle)
    t = 1 - c
    return np.stack([
        np.stack([t * x * x + c, t * x * y - s * z, t * x * z + s * y], -1),
        np.stack([t * x * y + s * z, t * y * y + c, t * y * z - s * x], -1),
        np.stack([t * x * z - s * y, t * y * z + s * x, t * z * z + c], -1),
    ], -2)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Quaternions (x, y, z, w) of rotation matrices [..., 3, 3], w >= 0.

    Shepperd's method: each quaternion is built from the branch of its largest component, so a
    nearly zero component does not come out of the square root of a rounding error (which made
    float32 rest matrices cost a tenth of a degree).
    """
    m = np.asarray(m, np.float64)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    branches = np.stack([
        np.stack([m21 - m12, m02 - m20, m10 - m01, 1 + m00 + m11 + m22], -1),
        np.stack([1 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12], -1),
        np.stack([m01 + m10, 1 - m00 + m11 - m22, m12 + m21, m02 - m20], -1),
        np.stack([m02 + m20, m12 + m21, 1 - m00 - m11 + m22, m10 - m01], -1),
    ], -2)  # each row is 4 * (its largest component) * q, for the component on its diagonal
    pick = np.argmax(np.stack([m00 + m11 + m22, m00, m11, m22], -1), axis=-1)
    q = np.take_along_axis(branches, pick[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:4] < 0, -q, q)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True).clip(1e-12)
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def continuous(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 so consecutive quaternions are on the same hemisphere (for slerp)."""
    out = q.copy()
    for t in range(1, len(out)):
        flip = np.sum(out[t] * out[t - 1], axis=-1) < 0
        out[t][flip] *= -1
    return out


def slerp(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Spherical interpolation of quaternions [..., 4] (x, y, z, w) at ``weight`` [...] (0: a, 1: b),
    along the shorter arc."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.abs(dot).clip(0.0, 1.0)
    angle = np.arccos(dot)
    sin = np.sin(angle)
    w = np.asarray(weight, np.float64)[..., None]
    near = sin < 1e-6  # nearly equal: linear blending is exact enough and avoids 0 / 0
    wa = np.where(near, 1 - w, np.sin((1 - w) * angle) / np.where(near, 1.0, sin))
    wb = np.where(near, w, np.sin(w * angle) / np.where(near, 1.0, sin))
    q = wa * a + wb * b
    return q / np.linalg.norm(q, axis=-1, keepdims=True)
