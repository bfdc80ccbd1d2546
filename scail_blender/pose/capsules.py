"""The capsule scene of SCAIL pose frames and the closed-form ray maths both renderers share.

A frame is one capsule per limb (cylinder plus end spheres) of every person, lit like the
official Taichi render. The ray-capsule hit and its shading are written once over an ``ops``
namespace (numpy here, torch in ``render_torch``) so the two renderers cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .camera import Intrinsics
from .skeleton import DRAW_ORDER, LIMBS, N_LIMBS, N_SLOTS

log = logging.getLogger(__name__)

RADIUS_MM = 21.5


@dataclass(frozen=True)
class DepthRange:
    """Nearest and farthest capsule end point (camera z, mm) of a whole clip.

    The official renderer derives its depth fade and its ray length from the range of the
    whole clip, so every frame of a clip shares one shading; frames rendered one by one must
    be given the clip's range to look the same.
    """

    near: float
    far: float

    @property
    def fade_near(self) -> float:
        return max(self.near, 0.1)

    @property
    def fade_far(self) -> float:
        return min(self.far + 6000.0, 20000.0)

    @property
    def max_ray_length(self) -> float:
        """Rays stop after this distance: hits beyond it stay background, as in the official."""
        return max(min(self.far, 25000.0), 10000.0)


def check_joints(joints: np.ndarray, leading: str) -> np.ndarray:
    """Float32 copy of joints shaped ``[leading..., 14, 3]`` or InputError naming the shape."""
    arr = np.asarray(joints)
    want = len(leading.split(","))
    if arr.ndim != want + 2 or arr.shape[-2:] != (N_SLOTS, 3) or not np.issubdtype(arr.dtype, np.number):
        raise InputError(
            f"joints must be a number array of shape [{leading}, {N_SLOTS}, 3] (SCAIL slots, camera "
            f"space mm), got {list(arr.shape)} {arr.dtype}; convert SMPL-24 joints with smpl_to_scail"
        )
    return arr.astype(np.float32)


def joint_validity(joints: np.ndarray) -> tuple[np.ndarray, int]:
    """Which joints can be drawn, and how many were NaN/inf.

    A joint is drawn when it is finite, not all zeros (the "missing" marker of NLF) and in
    front of the camera (z > 0); limbs touching an undrawn joint are skipped.
    """
    finite = np.isfinite(joints).all(axis=-1)
    present = np.any(joints != 0, axis=-1)
    with np.errstate(invalid="ignore"):
        in_front = joints[..., 2] > 0
    n_bad = int(np.count_nonzero(~finite))
    return finite & present & in_front, n_bad


def warn_non_finite(count: int) -> None:
    if count:
        log.warning("%d joint(s) were NaN or infinite and are drawn as missing (with the limbs touching them)", count)


def depth_range(joints: np.ndarray) -> DepthRange:
    """The clip's DepthRange over the end points of every capsule that will be drawn.

    ``joints``: ``[T, P, 14, 3]`` (or one frame ``[P, 14, 3]``). A clip with nothing to draw
    gets a harmless placeholder range.
    """
    arr = np.asarray(joints)
    if arr.ndim == 3:
        arr = arr[None]
    arr = check_joints(arr, "T, P")
    valid, _ = joint_validity(arr)
    used = np.zeros(valid.shape, dtype=bool)
    for a, b in LIMBS:
        both = valid[..., a] & valid[..., b]
        used[..., a] |= both
        used[..., b] |= both
    if not used.any():
        return DepthRange(0.1, 0.1)
    z = arr[..., 2][used]
    return DepthRange(float(z.min()), float(z.max()))


@dataclass
class Scene:
    """One frame's drawable geometry, in emission order (people, then DRAW_ORDER).

    Every capsule is split into its side (the open cylinder, ``cap_*``) and the spheres at its
    joints (``sph_*``). A joint shared by several capsules gets ONE sphere, owned by the first
    capsule that uses it: where capsules coincide the earlier one wins, as in the official
    min-distance rule. Per-primitive constants are computed here once, in float32, so that
    every renderer traces with bit-identical inputs.
    """

    cap_a: np.ndarray       # [C, 3] start point
    cap_u: np.ndarray       # [C, 3] unit axis (zero for a degenerate capsule)
    cap_len: np.ndarray     # [C]
    cap_moment: np.ndarray  # [C, 3] u x a: rays meet the axis line where (ray . moment) is small
    cap_au: np.ndarray      # [C] a . u
    cap_color: np.ndarray   # [C, 3] float32 shading colour c/300 + 0.15
    cap_label: np.ndarray   # [C] person * 13 + limb
    sph_center: np.ndarray  # [S, 3]
    sph_offset: np.ndarray  # [S] |c|^2 - r^2
    sph_owner: np.ndarray   # [S] capsule index

    @property
    def n_capsules(self) -> int:
        return len(self.cap_a)


def build_scene(people: np.ndarray, valid: np.ndarray, palettes: Sequence[np.ndarray],
                radius: float = RADIUS_MM) -> Scene:
    """Collect the capsules of one frame (``people`` [P, 14, 3] float32, ``valid`` [P, 14])."""
    starts, ends, colors, labels, sph, owner = [], [], [], [], [], []
    for p in range(people.shape[0]):
        seen: set[int] = set()
        shade = (palettes[p].astype(np.float64) / 300.0 + 0.15).astype(np.float32)
        for limb in DRAW_ORDER:
            a, b = LIMBS[limb]
            if not (valid[p, a] and valid[p, b]):
                continue
            index = len(starts)
            starts.append(people[p, a])
            ends.append(people[p, b])
            colors.append(shade[limb])
            labels.append(p * N_LIMBS + limb)
            for joint in (a, b):
                if joint not in seen:
                    seen.add(joint)
                    sph.append(people[p, joint])
                    owner.append(index)
    f32 = np.float32
    a = np.array(starts, f32).reshape(-1, 3)
    axis = np.array(ends, f32).reshape(-1, 3) - a
    length = np.sqrt((axis.astype(np.float64) ** 2).sum(axis=1)).astype(f32)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(length[:, None] > 0, axis / np.where(length > 0, length, 1)[:, None], 0).astype(f32)
    centers = np.array(sph, f32).reshape(-1, 3)
    offset = ((centers.astype(np.float64) ** 2).sum(axis=1) - radius * radius).astype(f32)
    return Scene(a, unit, length, np.cross(unit, a).astype(f32), (a * unit).sum(axis=1, dtype=np.float64).astype(f32),
                 np.array(colors, f32).reshape(-1, 3), np.array(labels, np.int32), centers, offset,
                 np.array(owner, np.int32))


def sphere_bounds(centers: np.ndarray, radius: float, intr: Intrinsics, height: int, width: int) -> np.ndarray:
    """Pixel box [y0, y1, x0, x1) (half-open, clipped) covering each sphere's image.

    Exact tangent-plane bounds, widened by one pixel; a sphere reaching z <= radius (touching
    the camera plane) may cover anything, so it gets the whole image.
    """
    c = centers.astype(np.float64).reshape(-1, 3)
    z = c[:, 2]
    out = np.empty((len(c), 4), np.int64)
    near = z <= radius * 1.001
    zz = np.where(near, radius * 2.0, z)
    denom = zz * zz - radius * radius
    boxes = []
    for axis, f, principal in ((1, intr.fy, intr.cy), (0, intr.fx, intr.cx)):
        q = c[:, axis]
        root = radius * np.sqrt(np.maximum(q * q + zz * zz - radius * radius, 0.0))
        lo = (q * zz - root) / denom * f + principal
        hi = (q * zz + root) / denom * f + principal
        boxes.append((np.floor(lo) - 1, np.ceil(hi) + 2))
    (y0, y1), (x0, x1) = boxes
    out[:, 0] = np.clip(y0, 0, height)
    out[:, 1] = np.clip(y1, 0, height)
    out[:, 2] = np.clip(x0, 0, width)
    out[:, 3] = np.clip(x1, 0, width)
    out[near] = (0, height, 0, width)
    return out


def scene_boxes(scene: Scene, radius: float, intr: Intrinsics, height: int, width: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel boxes of the spheres [S, 4] and of the capsule sides [C, 4] (both end spheres)."""
    spheres = sphere_bounds(scene.sph_center, radius, intr, height, width)
    ends = np.concatenate((scene.cap_a, scene.cap_a + scene.cap_u * scene.cap_len[:, None]))
    both = sphere_bounds(ends, radius, intr, height, width)
    n = scene.n_capsules
    sides = np.stack((np.minimum(both[:n, 0], both[n:, 0]), np.maximum(both[:n, 1], both[n:, 1]),
                      np.minimum(both[:n, 2], both[n:, 2]), np.maximum(both[:n, 3], both[n:, 3])), axis=1)
    return spheres, sides.reshape(-1, 4)


class NumpyOps:
    """The few non-operator functions the shared kernels need, for numpy arrays."""

    sqrt = staticmethod(np.sqrt)

    @staticmethod
    def relu(x):
        return np.maximum(x, 0)

    @staticmethod
    def clip(x, lo, hi):
        return np.clip(x, lo, hi)


# ---- Kernels shared by the numpy and torch renderers (operators only, plus ``ops``). ----
# u [.., w] and v [.., h, 1] are the ray slopes (x - cx)/fx and (y - cy)/fy, inv [.., h, w] the
# reciprocal ray length; constants broadcast against them. Same float32 operations in the same
# order in both renderers, so their frames agree bit for bit.

def sphere_hit(u, v, inv, cx, cy, cz, offset, ops):
    """Ray length to a sphere at (cx, cy, cz) and whether the ray hits it."""
    along = (u * cx + (v * cy + cz)) * inv
    disc = along * along - offset
    return along - ops.sqrt(ops.relu(disc)), disc >= 0


def side_hit(u, v, inv, a, axis, moment, au, length, r2, ops):
    """Ray length to the open cylinder of a capsule and whether it lands between the ends.

    With unit ray d and unit axis u: the ray meets the infinite cylinder where
    |d x u|^2 t^2 - 2 B t + ... = 0; using the moment m = u x a keeps the discriminant
    (1 - s^2) r^2 - (d . m)^2 well conditioned in float32 metres away from the camera.
    """
    s = (u * axis[0] + (v * axis[1] + axis[2])) * inv
    md = (u * moment[0] + (v * moment[1] + moment[2])) * inv
    ar = (u * a[0] + (v * a[1] + a[2])) * inv
    aa = 1 - s * s
    disc = aa * r2 - md * md
    t = ((ar - au * s) - ops.sqrt(ops.relu(disc))) / aa
    along = t * s - au
    return t, (disc >= 0) & (aa > 1e-7) & (along >= 0) & (along <= length)


def shade_hits(t, u, v, inv, a, axis, length, color, fade_near, fade_scale, ops):
    """The official lighting at hit points, as three float32 channels in 0..255 (truncate next).

    Light along +z (from the camera), Lambert plus Blinn-Phong (shininess 32), a linear depth
    fade over the clip's range, clip to [0, 1], times 255.

    The normal is the capsule's true one, distorted the way the official float32 central
    differences distort it: p +- 1e-3 rounds to a coordinate-dependent step (1.95e-3 for
    |coordinate| >= 512 mm, about 2e-3 below), which stretches each gradient component by its
    own step. Without that, frames come out about one level brighter than the official ones.
    ``a``, ``axis``, ``color`` are per-point (x, y, z) / (r, g, b) triples.
    """
    ray = (u * inv, v * inv, inv)
    point = tuple(t * d for d in ray)
    rel = tuple(p - q for p, q in zip(point, a))
    along = ops.clip(rel[0] * axis[0] + rel[1] * axis[1] + rel[2] * axis[2], 0, length)
    eps = np.float32(1e-3)
    normal = tuple((r - along * w) * ((p + eps) - (p - eps)) for r, w, p in zip(rel, axis, point))
    norm = ops.sqrt(normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2])
    nx, ny, nz = (n / norm for n in normal)
    diff = ops.relu(-nz)
    hz = ray[2] + 1
    half = ops.sqrt(ray[0] * ray[0] + ray[1] * ray[1] + hz * hz)
    spec = ops.relu(-(nx * ray[0] + ny * ray[1] + nz * hz) / half)
    for _ in range(5):
        spec = spec * spec
    fade = ops.clip(1 - (point[2] - fade_near) / fade_scale, 0, 1)
    lit = (np.float32(0.3) + np.float32(0.7) * diff) * fade
    gloss = np.float32(0.5) * spec * fade
    return tuple(ops.clip(c * lit + gloss, 0, 1) * np.float32(255) for c in color)


def pixel_rays(height: int, width: int, intr: Intrinsics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray slopes per column and row and the reciprocal ray lengths, float32.

    Pixel centres sit on integers (no +0.5): column x looks along ((x - cx)/fx, ., 1).
    """
    u = ((np.arange(width, dtype=np.float64) - intr.cx) / intr.fx).astype(np.float32)
    v = ((np.arange(height, dtype=np.float64) - intr.cy) / intr.fy).astype(np.float32)
    inv = 1.0 / np.sqrt(u.astype(np.float64)[None, :] ** 2 + v.astype(np.float64)[:, None] ** 2 + 1.0)
    return u, v, inv.astype(np.float32)
