"""The capsule renderer batched over frames in torch, for a GPU.

Same algorithm and the very same float32 kernels as ``render`` (shared, operators only), so the
frames equal the numpy ones; only the loop structure differs: every primitive slot is traced for
a whole batch of frames at once, inside the union of that slot's boxes over the batch (motion
between neighbouring frames is small, so the union stays tight). Scenes and boxes are prepared
on the CPU, which keeps the GPU free of synchronisation, and a batch's 2D marks are drawn on the
CPU while the GPU traces that batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .camera import Intrinsics
from .marks import Marks2D, mark_pixels
from .capsules import RADIUS_MM, DepthRange, Scene, build_scene, pixel_rays, scene_boxes, shade_hits, side_hit, sphere_hit


class TorchOps:
    sqrt = staticmethod(torch.sqrt)

    @staticmethod
    def relu(x: torch.Tensor) -> torch.Tensor:
        return torch.clamp_min(x, 0)

    @staticmethod
    def clip(x: torch.Tensor, lo, hi) -> torch.Tensor:
        low = torch.clamp_min(x, lo)
        return torch.minimum(low, hi) if isinstance(hi, torch.Tensor) else torch.clamp_max(low, hi)


def _pad(arrays: list[np.ndarray], count: int, tail: tuple[int, ...], dtype) -> np.ndarray:
    out = np.zeros((len(arrays), count) + tail, dtype)
    for i, arr in enumerate(arrays):
        out[i, : len(arr)] = arr
    return out


@dataclass
class Traced:
    """A batch whose first hits are queued on the device: ray length and capsule per pixel."""

    count: int
    depth: torch.Tensor | None
    owner: torch.Tensor | None
    params: dict[str, torch.Tensor]


class TorchPoseRenderer:
    """Renders the frames of one clip in batches on ``device`` (CUDA when present)."""

    def __init__(self, height: int, width: int, intrinsics: Intrinsics, depth: DepthRange,
                 palettes: Sequence[np.ndarray], radius: float = RADIUS_MM,
                 device: str | torch.device | None = None, batch: int | None = None) -> None:
        self.height, self.width = int(height), int(width)
        self.intrinsics = intrinsics
        self.depth = depth
        self.palettes = list(palettes)
        self.radius = float(radius)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.batch = batch or (64 if self.device.type == "cuda" else 4)
        u, v, inv = pixel_rays(self.height, self.width, intrinsics)
        self.u = torch.from_numpy(u).to(self.device)
        self.v = torch.from_numpy(v).to(self.device)
        self.inv = torch.from_numpy(inv).to(self.device)

    def render_clip(self, joints: np.ndarray, valid: np.ndarray,
                    marks: Sequence[Sequence[Marks2D | None] | None] | None = None) -> Iterator[np.ndarray]:
        """Frames of ``joints`` [T, P, 14, 3] float32 (``valid`` [T, P, 14]), one at a time."""
        for start in range(0, joints.shape[0], self.batch):
            stop = min(start + self.batch, joints.shape[0])
            scenes = [build_scene(joints[t], valid[t], self.palettes, self.radius) for t in range(start, stop)]
            traced = self.trace(scenes)
            painted = mark_pixels(marks[start:stop], self.height, self.width) if marks is not None else None
            frames = self.shade(traced)
            for frame, pixels in zip(frames, painted or ()):
                frame.put(*pixels)
            yield from frames

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def trace(self, scenes: list[Scene]) -> Traced:
        """Queue the search for every pixel's first hit of a batch of scenes (one per frame).

        It returns once the work is queued: CUDA runs the queue while Python goes on, so
        ``render_clip`` computes the batch's 2D marks between ``trace`` and ``shade``, which is
        the first call that waits for the device.
        """
        b, h, w = len(scenes), self.height, self.width
        n_sph = max(len(s.sph_center) for s in scenes)
        n_cap = max(s.n_capsules for s in scenes)
        if n_cap == 0:
            return Traced(b, None, None, {})
        f32 = np.float32
        pad = {
            "sph_center": _pad([s.sph_center for s in scenes], n_sph, (3,), f32),
            "sph_offset": _pad([s.sph_offset for s in scenes], n_sph, (), f32),
            "sph_owner": _pad([s.sph_owner for s in scenes], n_sph, (), np.int64),
            "cap_a": _pad([s.cap_a for s in scenes], n_cap, (3,), f32),
            "cap_u": _pad([s.cap_u for s in scenes], n_cap, (3,), f32),
            "cap_moment": _pad([s.cap_moment for s in scenes], n_cap, (3,), f32),
            "cap_au": _pad([s.cap_au for s in scenes], n_cap, (), f32),
            "cap_len": _pad([s.cap_len for s in scenes], n_cap, (), f32),
            "cap_color": _pad([s.cap_color for s in scenes], n_cap, (3,), f32),
        }
        sph_on = _pad([np.ones(len(s.sph_center), bool) for s in scenes], n_sph, (), bool)
        cap_on = _pad([s.cap_len > 0 for s in scenes], n_cap, (), bool)
        boxes = [scene_boxes(s, self.radius, self.intrinsics, h, w) for s in scenes]
        sph_box = _pad([bx[0] for bx in boxes], n_sph, (4,), np.int64)
        cap_box = _pad([bx[1] for bx in boxes], n_cap, (4,), np.int64)
        g = {k: self._tensor(v) for k, v in pad.items()}
        on = {"sphere": self._tensor(sph_on), "side": self._tensor(cap_on)}

        depth = torch.full((b, h, w), float("inf"), dtype=torch.float32, device=self.device)
        owner = torch.full((b, h, w), -1, dtype=torch.int64, device=self.device)
        r2 = f32(self.radius) * f32(self.radius)
        limit = f32(self.depth.max_ray_length)

        def col(name: str, slot: int, j: int | None = None) -> torch.Tensor:
            t = g[name][:, slot] if j is None else g[name][:, slot, j]
            return t[:, None, None]

        jobs = [("sphere", k, sph_box[:, k], sph_on[:, k]) for k in range(n_sph)]
        jobs += [("side", k, cap_box[:, k], cap_on[:, k]) for k in range(n_cap)]
        for kind, k, box, live in jobs:
            if not live.any():
                continue
            box = box[live]
            y0, y1, x0, x1 = box[:, 0].min(), box[:, 1].max(), box[:, 2].min(), box[:, 3].max()
            if y0 >= y1 or x0 >= x1:
                continue
            u = self.u[x0:x1][None, None, :]
            v = self.v[y0:y1][None, :, None]
            inv = self.inv[y0:y1, x0:x1][None]
            if kind == "sphere":
                t, hit = sphere_hit(u, v, inv, col("sph_center", k, 0), col("sph_center", k, 1),
                                    col("sph_center", k, 2), col("sph_offset", k), TorchOps)
                who = col("sph_owner", k)
            else:
                t, hit = side_hit(u, v, inv, tuple(col("cap_a", k, j) for j in range(3)),
                                  tuple(col("cap_u", k, j) for j in range(3)),
                                  tuple(col("cap_moment", k, j) for j in range(3)),
                                  col("cap_au", k), col("cap_len", k), r2, TorchOps)
                who = torch.full((b, 1, 1), k, dtype=torch.int64, device=self.device)
            near = depth[:, y0:y1, x0:x1]
            hit = hit & on[kind][:, k, None, None] & (t > 0) & (t <= limit) & (t < near)
            depth[:, y0:y1, x0:x1] = torch.where(hit, t, near)
            owner[:, y0:y1, x0:x1] = torch.where(hit, who, owner[:, y0:y1, x0:x1])
        return Traced(b, depth, owner, g)

    def shade(self, traced: Traced) -> np.ndarray:
        """Frames ``[B, H, W, 3]`` uint8: the lit colour of each pixel's first hit."""
        frames = torch.zeros((traced.count, self.height, self.width, 3), dtype=torch.uint8, device=self.device)
        if traced.owner is None:
            return frames.cpu().numpy()
        depth, owner, g, f32 = traced.depth, traced.owner, traced.params, np.float32
        fb, fy, fx = torch.nonzero(owner >= 0, as_tuple=True)
        k = owner[fb, fy, fx]
        channels = shade_hits(
            depth[fb, fy, fx], self.u[fx], self.v[fy], self.inv[fy, fx],
            tuple(g["cap_a"][fb, k, j] for j in range(3)), tuple(g["cap_u"][fb, k, j] for j in range(3)),
            g["cap_len"][fb, k], tuple(g["cap_color"][fb, k, j] for j in range(3)),
            f32(self.depth.fade_near), f32(self.depth.fade_far - 0.1), TorchOps,
        )
        frames[fb, fy, fx] = torch.stack(channels, dim=1).to(torch.uint8)
        return frames.cpu().numpy()
