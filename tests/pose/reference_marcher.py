"""A plain re-implementation of the official SCAIL-Pose sphere tracer, for fidelity tests.

It follows ``render_3d/taichi_cylinder.py`` step by step in float32 (as Taichi computes):
march from t = 0.1, at most 300 steps of max(d, 1e-4), hit when the scene distance < 1e-3,
stop past the clip's ray limit, normals by central differences (e = 1e-3) of the scene
distance, colour of the capsule with the smallest distance (strict <, so earlier capsules win
ties). Vectorised over the rays still marching; slow, and only meant for small images.
"""

from __future__ import annotations

import numpy as np

from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.capsules import DepthRange, Scene

F = np.float32


def _capsule_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray, radius: F) -> np.ndarray:
    """Distance [N, C] from points [N, 3] to capsules a->b [C, 3], computed like the official."""
    pa = p[:, None, :] - a[None]
    ba = b - a
    h = np.sqrt((ba * ba).sum(-1))
    safe = np.where(h < F(1e-8), F(1), h)
    ba_n = ba / safe[:, None]
    proj = np.clip((pa * ba_n[None]).sum(-1), F(0), h[None])
    off = pa - proj[..., None] * ba_n[None]
    d = np.sqrt((off * off).sum(-1)) - radius
    point = np.sqrt((pa * pa).sum(-1)) - radius
    return np.where(h[None] < F(1e-8), point, d).astype(F)


def _scene(p: np.ndarray, a: np.ndarray, b: np.ndarray, radius: F) -> tuple[np.ndarray, np.ndarray]:
    d = _capsule_distance(p, a, b, radius)
    best = np.full(len(p), F(1e6))
    index = np.full(len(p), -1)
    for i in range(d.shape[1]):
        closer = d[:, i] < best
        best = np.where(closer, d[:, i], best)
        index = np.where(closer, i, index)
    return best, index


def march(starts: np.ndarray, ends: np.ndarray, colors: np.ndarray, height: int, width: int,
          intrinsics: Intrinsics, depth: DepthRange, radius: float = 21.5) -> tuple[np.ndarray, np.ndarray]:
    """Render capsules (float32 [C, 3] ends, [C, 3] colours in 0..1) like the official tracer.

    Returns the image [H, W, 3] uint8 and which capsule each pixel shows ([H, W], -1 = none).
    """
    a, b, colors = starts.astype(F), ends.astype(F), colors.astype(F)
    r = F(radius)
    out = np.zeros((height * width, 3), np.uint8)
    owner = np.full(height * width, -1)
    if len(a) == 0:
        return out.reshape(height, width, 3), owner.reshape(height, width)
    ys, xs = np.divmod(np.arange(height * width), width)
    u = (xs.astype(F) - F(intrinsics.cx)) / F(intrinsics.fx)
    v = (ys.astype(F) - F(intrinsics.cy)) / F(intrinsics.fy)
    rd = np.stack((u, v, np.ones_like(u)), axis=1)
    rd = rd / np.sqrt((rd * rd).sum(1))[:, None]
    zfar = F(depth.max_ray_length)
    near, far = F(depth.fade_near), F(depth.fade_far)
    t = np.full(len(rd), F(0.1))
    active = np.arange(len(rd))
    hit_ray, hit_p, hit_i = [], [], []
    for _ in range(300):
        if len(active) == 0:
            break
        p = rd[active] * t[active, None]
        d, index = _scene(p, a, b, r)
        hit = d < F(1e-3)
        hit_ray.append(active[hit])
        hit_p.append(p[hit])
        hit_i.append(index[hit])
        go_on = ~hit & ~(t[active] > zfar)
        active = active[go_on]
        t[active] = t[active] + np.maximum(d[go_on], F(1e-4))
    rays = np.concatenate(hit_ray)
    p = np.concatenate(hit_p)
    index = np.concatenate(hit_i)
    e = F(1e-3)
    grad = []
    for axis in range(3):
        step = np.zeros(3, F)
        step[axis] = e
        grad.append(_scene(p + step, a, b, r)[0] - _scene(p - step, a, b, r)[0])
    n = np.stack(grad, axis=1)
    n = n / np.sqrt((n * n).sum(1))[:, None]
    light = np.array([0, 0, 1], F)
    diff = np.maximum((n * -light).sum(1), F(0))
    view = -rd[rays]
    half = view - light
    half = half / np.sqrt((half * half).sum(1))[:, None]
    spec = np.maximum((n * half).sum(1), F(0)) ** F(32)
    fade = np.clip(F(1) - (p[:, 2] - near) / (far - F(0.1)), F(0), F(1))
    rgb = colors[index] * ((F(0.3) + F(0.7) * diff) * fade)[:, None] + (F(0.5) * spec * fade)[:, None]
    out[rays] = (np.clip(rgb, 0, 1) * F(255)).astype(np.uint8)
    owner[rays] = index
    return out.reshape(height, width, 3), owner.reshape(height, width)


def march_scene(scene: Scene, height: int, width: int, intrinsics: Intrinsics, depth: DepthRange
                ) -> tuple[np.ndarray, np.ndarray]:
    """The official picture of a built Scene (same capsules, colours and order)."""
    ends = scene.cap_a + scene.cap_u * scene.cap_len[:, None]
    return march(scene.cap_a, ends, scene.cap_color, height, width, intrinsics, depth)
