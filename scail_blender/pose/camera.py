"""Pinhole intrinsics in the convention of the SCAIL pose renderer.

Pixel (x, y) with integer x = column and y = row is the pixel CENTRE and looks along
((x - cx) / fx, (y - cy) / fy, 1): the official renderer casts its rays that way (no +0.5).
Blender's camera-view coordinates put pixel edges at integers, so blender_px = ours + 0.5;
the rig helpers convert once, everything downstream uses this class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

# NLF's default field of view, on the larger image side.
DEFAULT_FOV_DEGREES = 55.0


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise InputError(
                f"intrinsics need finite values and positive focal lengths, got "
                f"fx={self.fx}, fy={self.fy}, cx={self.cx}, cy={self.cy}"
            )

    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Intrinsics:
        """Read fx, fy, cx, cy from a 3x3 K; skew is refused because the renderer has none."""
        k = np.asarray(matrix, dtype=np.float64)
        if k.shape != (3, 3):
            raise InputError(f"an intrinsics matrix must have shape [3, 3], got {list(k.shape)}")
        if abs(k[0, 1]) > 1e-9 * abs(k[0, 0]) or np.any(k[2] != (0.0, 0.0, 1.0)) or k[1, 0] != 0:
            raise InputError(
                "the intrinsics matrix must look like [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] "
                f"(no skew), got {k.tolist()}"
            )
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))

    @classmethod
    def default(cls, height: int, width: int) -> Intrinsics:
        """NLF's default camera: 55 degrees on the larger side, principal point at W/2, H/2."""
        if height <= 0 or width <= 0:
            raise InputError(f"image size must be positive, got {height} high x {width} wide")
        focal = max(height, width) / (2.0 * math.tan(math.radians(DEFAULT_FOV_DEGREES) / 2.0))
        return cls(focal, focal, width / 2.0, height / 2.0)

    def scaled(self, factor_y: float, factor_x: float) -> Intrinsics:
        """The same camera for an image resized by the given factors (rows, columns).

        Image edges stay on image edges: pixel centres sit on integers, so a centre x of the
        old image lands on s * (x + 0.5) - 0.5 of the new one (what an image resize does, and
        what Blender's camera does when its resolution changes).
        """
        return Intrinsics(self.fx * factor_x, self.fy * factor_y,
                          factor_x * (self.cx + 0.5) - 0.5, factor_y * (self.cy + 0.5) - 0.5)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel (x, y) of camera-space points ``[..., 3]``; points at z <= 0 give NaN."""
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,):
            raise InputError(f"points must have shape [..., 3], got {list(p.shape)}")
        z = p[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_z = np.where(z > 0, 1.0 / np.where(z > 0, z, 1.0), np.nan)
        return np.stack((self.fx * p[..., 0] * inv_z + self.cx, self.fy * p[..., 1] * inv_z + self.cy), axis=-1)
