"""Render SCAIL pose frames: shaded capsules per limb, 2D face/hand marks on top.

The official preprocessing sphere-traces the capsules with Taichi on CUDA. Its picture is the
first ray-capsule intersection with the capsule's surface normal, so this module computes that
intersection in closed form instead: per capsule only inside its screen-space bounding box,
with a depth buffer across all capsules of all people (mutual occlusion in one pass). Plain
numpy on one CPU core; ``render_torch`` runs the same algorithm batched on a GPU.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .camera import Intrinsics
from .marks import Marks2D, draw_marks, mark_pixels
from .skeleton import DRAW_ORDER, LIMBS, N_LIMBS, N_SLOTS, palettes_for

log = logging.getLogger(__name__)

RADIUS_MM = 21.5
BACKENDS = ("auto", "numpy", "torch")
# Frames whose 2D marks are computed in one go (per-call overhead is most of their cost).
MARKS_BATCH = 16


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
    every backend traces with bit-identical inputs.
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


# ---- Kernels shared by the numpy and torch backends (operators only, plus ``ops``). ----
# u [.., w] and v [.., h, 1] are the ray slopes (x - cx)/fx and (y - cy)/fy, inv [.., h, w] the
# reciprocal ray length; constants broadcast against them. Same float32 operations in the same
# order in both backends, so their frames agree bit for bit.

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


class PoseRenderer:
    """Renders frames of one clip: fixed size, camera and depth range, reused buffers."""

    def __init__(self, height: int, width: int, intrinsics: Intrinsics, depth: DepthRange,
                 palettes: Sequence[np.ndarray] | None = None, radius: float = RADIUS_MM) -> None:
        if height <= 0 or width <= 0:
            raise InputError(f"image size must be positive, got {height} high x {width} wide")
        self.height, self.width = int(height), int(width)
        self.intrinsics = intrinsics
        self.depth = depth
        self.palettes = list(palettes) if palettes is not None else None
        self.radius = float(radius)
        self.u, self.v, self.inv_norm = pixel_rays(self.height, self.width, intrinsics)
        self.depth_buf = np.empty((height, width), np.float32)
        self.owner_buf = np.empty((height, width), np.int32)

    def _palettes(self, n_people: int) -> Sequence[np.ndarray]:
        if self.palettes is None:
            return palettes_for(n_people)
        if len(self.palettes) < n_people:
            raise InputError(f"{n_people} people but only {len(self.palettes)} palettes were given")
        return self.palettes

    def render(self, people: np.ndarray, marks: Sequence[Marks2D | None] | None = None) -> np.ndarray:
        """One frame ``[H, W, 3]`` uint8 from ``people`` ``[P, 14, 3]`` (camera space, mm)."""
        return self.render_with_labels(people, marks)[0]

    def render_with_labels(self, people: np.ndarray, marks: Sequence[Marks2D | None] | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
        """The frame and, per pixel, which limb shows there (person * 13 + limb, -1 = none)."""
        arr = check_joints(people, "P")
        valid, n_bad = joint_validity(arr)
        warn_non_finite(n_bad)
        scene = build_scene(arr, valid, self._palettes(arr.shape[0]), self.radius)
        frame, labels = self._shade(scene)
        if marks is not None:
            draw_marks(frame, marks)
        return frame, labels

    def render_scene(self, scene: Scene) -> np.ndarray:
        return self._shade(scene)[0]

    def _trace(self, scene: Scene) -> None:
        """Fill depth_buf (ray length to the first hit) and owner_buf (capsule index or -1)."""
        depth, owner = self.depth_buf, self.owner_buf
        depth.fill(np.inf)
        owner.fill(-1)
        r2 = np.float32(self.radius) * np.float32(self.radius)
        limit = np.float32(self.depth.max_ray_length)
        spheres, sides = scene_boxes(scene, self.radius, self.intrinsics, self.height, self.width)
        jobs = [(box, k, "sphere") for k, box in enumerate(spheres)]
        jobs += [(box, k, "side") for k, box in enumerate(sides) if scene.cap_len[k] > 0]
        for (y0, y1, x0, x1), k, kind in jobs:
            if y0 >= y1 or x0 >= x1:
                continue
            u, v, inv = self.u[x0:x1], self.v[y0:y1, None], self.inv_norm[y0:y1, x0:x1]
            if kind == "sphere":
                c = scene.sph_center[k]
                t, hit = sphere_hit(u, v, inv, c[0], c[1], c[2], scene.sph_offset[k], NumpyOps)
                k = scene.sph_owner[k]
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    t, hit = side_hit(u, v, inv, scene.cap_a[k], scene.cap_u[k], scene.cap_moment[k],
                                      scene.cap_au[k], scene.cap_len[k], r2, NumpyOps)
            near = depth[y0:y1, x0:x1]
            with np.errstate(invalid="ignore"):
                hit &= (t > 0) & (t <= limit) & (t < near)
            near[hit] = t[hit]
            owner[y0:y1, x0:x1][hit] = k

    def _shade(self, scene: Scene) -> tuple[np.ndarray, np.ndarray]:
        frame = np.zeros((self.height, self.width, 3), np.uint8)
        labels = np.full((self.height, self.width), -1, np.int32)
        if scene.n_capsules == 0:
            return frame, labels
        self._trace(scene)
        rows, cols = np.nonzero(self.owner_buf >= 0)
        k = self.owner_buf[rows, cols]
        labels[rows, cols] = scene.cap_label[k]
        channels = shade_hits(
            self.depth_buf[rows, cols], self.u[cols], self.v[rows], self.inv_norm[rows, cols],
            scene.cap_a[k].T, scene.cap_u[k].T, scene.cap_len[k], scene.cap_color[k].T,
            np.float32(self.depth.fade_near), np.float32(self.depth.fade_far - 0.1), NumpyOps,
        )
        frame[rows, cols] = np.stack(channels, axis=1).astype(np.uint8)
        return frame, labels


def pixel_rays(height: int, width: int, intr: Intrinsics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray slopes per column and row and the reciprocal ray lengths, float32.

    Pixel centres sit on integers (no +0.5): column x looks along ((x - cx)/fx, ., 1).
    """
    u = ((np.arange(width, dtype=np.float64) - intr.cx) / intr.fx).astype(np.float32)
    v = ((np.arange(height, dtype=np.float64) - intr.cy) / intr.fy).astype(np.float32)
    inv = 1.0 / np.sqrt(u.astype(np.float64)[None, :] ** 2 + v.astype(np.float64)[:, None] ** 2 + 1.0)
    return u, v, inv.astype(np.float32)


def render_clip(joints: np.ndarray, intrinsics: Intrinsics, size: tuple[int, int],
                marks: Sequence[Sequence[Marks2D | None] | None] | None = None,
                scheme: str = "preview", backend: str = "auto") -> Iterator[np.ndarray]:
    """Stream the frames (``[H, W, 3]`` uint8) of a clip ``joints`` ``[T, P, 14, 3]``.

    ``marks[t][p]`` are the 2D marks of person p in frame t (or None). The clip's joints are
    held (they are small), frames are produced one at a time, so memory stays flat in T.
    NaN/inf joints are drawn as missing and reported in one RuntimeWarning for the clip.
    """
    arr = check_joints(joints, "T, P")
    if marks is not None and len(marks) != arr.shape[0]:
        raise InputError(f"marks cover {len(marks)} frames but the clip has {arr.shape[0]}")
    if backend not in BACKENDS:
        raise InputError(f"unknown render backend {backend!r}: use one of {', '.join(BACKENDS)}")
    height, width = (int(s) for s in size)
    palettes = palettes_for(arr.shape[1], scheme)
    valid, n_bad = joint_validity(arr)
    warn_non_finite(n_bad)
    depth = depth_range(np.where(valid[..., None], arr, 0))
    if backend == "torch" or (backend == "auto" and _cuda_available()):
        from .render_torch import TorchPoseRenderer

        renderer = TorchPoseRenderer(height, width, intrinsics, depth, palettes)
        yield from renderer.render_clip(arr, valid, marks)
        return
    renderer = PoseRenderer(height, width, intrinsics, depth, palettes)
    for start in range(0, arr.shape[0], MARKS_BATCH):
        stop = min(start + MARKS_BATCH, arr.shape[0])
        painted = mark_pixels(marks[start:stop], height, width) if marks is not None else None
        for t in range(start, stop):
            frame = renderer.render_scene(build_scene(arr[t], valid[t], palettes))
            if painted is not None:
                frame.put(*painted[t - start])
            yield frame


def _cuda_available() -> bool:
    """True when torch is installed and sees a GPU (torch stays optional for the core).

    Importing torch costs seconds, more than rendering a whole clip, so it is imported only when
    an NVIDIA driver is there to be found (its device files or library); without one the answer
    is no without the import.
    """
    if importlib.util.find_spec("torch") is None or not _nvidia_driver_present():
        return False
    import torch

    return bool(torch.cuda.is_available())


def _nvidia_driver_present() -> bool:
    """A cheap look for an NVIDIA driver: Linux device files, the Windows CUDA driver library."""
    if sys.platform.startswith("linux"):
        return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")
    if sys.platform == "win32":
        system = os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32")
        return os.path.exists(os.path.join(system, "nvcuda.dll"))
    return False  # macOS: no CUDA; the torch path stays available with --backend torch
