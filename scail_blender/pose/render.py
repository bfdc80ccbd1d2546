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

import numpy as np

from ..errors import InputError
from .camera import Intrinsics
from .marks import Marks2D, draw_marks, mark_pixels
from .capsules import (RADIUS_MM, DepthRange, NumpyOps, Scene, build_scene, check_joints, depth_range, joint_validity,
                       pixel_rays, scene_boxes, shade_hits, side_hit, sphere_hit, warn_non_finite)
from .skeleton import N_LIMBS, palettes_for

log = logging.getLogger(__name__)

RENDERERS = ("auto", "numpy", "torch")
# Frames whose 2D marks are computed in one go (per-call overhead is most of their cost).
MARKS_BATCH = 16


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

    def trace(self, scene: Scene) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel the camera z of the nearest capsule surface and that capsule's index (-1 =
        none; z is then undefined): the depth test of the render, for masks that mix capsules
        with meshes."""
        self._trace(scene)
        return self.depth_buf * self.inv_norm, self.owner_buf.copy()

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


def render_clip(joints: np.ndarray, intrinsics: Intrinsics, size: tuple[int, int],
                marks: Sequence[Sequence[Marks2D | None] | None] | None = None,
                scheme: str = "preview", renderer: str = "auto") -> Iterator[np.ndarray]:
    """Stream the frames (``[H, W, 3]`` uint8) of a clip ``joints`` ``[T, P, 14, 3]``.

    ``marks[t][p]`` are the 2D marks of person p in frame t (or None). The clip's joints are
    held (they are small), frames are produced one at a time, so memory stays flat in T.
    NaN/inf joints are drawn as missing and reported in one RuntimeWarning for the clip.
    """
    arr = check_joints(joints, "T, P")
    if marks is not None and len(marks) != arr.shape[0]:
        raise InputError(f"marks cover {len(marks)} frames but the clip has {arr.shape[0]}")
    if renderer not in RENDERERS:
        raise InputError(f"unknown renderer {renderer!r}: use one of {', '.join(RENDERERS)}")
    height, width = (int(s) for s in size)
    palettes = palettes_for(arr.shape[1], scheme)
    valid, n_bad = joint_validity(arr)
    warn_non_finite(n_bad)
    depth = depth_range(np.where(valid[..., None], arr, 0))
    if renderer == "torch" or (renderer == "auto" and _cuda_available()):
        from .render_torch import TorchPoseRenderer

        yield from TorchPoseRenderer(height, width, intrinsics, depth, palettes).render_clip(arr, valid, marks)
        return
    numpy_renderer = PoseRenderer(height, width, intrinsics, depth, palettes)
    for start in range(0, arr.shape[0], MARKS_BATCH):
        stop = min(start + MARKS_BATCH, arr.shape[0])
        painted = mark_pixels(marks[start:stop], height, width) if marks is not None else None
        for t in range(start, stop):
            frame = numpy_renderer.render_scene(build_scene(arr[t], valid[t], palettes))
            if painted is not None:
                frame.put(*painted[t - start])
            yield frame


def render_clip_people(joints: np.ndarray, intrinsics: Intrinsics, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Stream, per frame of ``joints`` ``[T, P, 14, 3]``, which person's capsule shows at each
    pixel (``[H, W]`` int32, -1 = nobody): the silhouettes of exactly the capsules ``render_clip``
    draws (same camera, depth range and occlusion), without the 2D marks, for identity masks."""
    arr = check_joints(joints, "T, P")
    height, width = (int(s) for s in size)
    valid, _ = joint_validity(arr)
    palettes = palettes_for(arr.shape[1])
    renderer = PoseRenderer(height, width, intrinsics, depth_range(np.where(valid[..., None], arr, 0)), palettes)
    for t in range(arr.shape[0]):
        labels = renderer._shade(build_scene(arr[t], valid[t], palettes))[1]
        yield np.where(labels >= 0, labels // N_LIMBS, -1).astype(np.int32)


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
    return False  # macOS: no CUDA; the torch path stays available with --renderer torch
