"""Plain bone tables: what the mappers read from a rig, and the points they choose in it.

Kept apart from the mappers (names in bonemap.py, structure in structure.py) so both can use
them without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import RigMappingError


@dataclass(frozen=True)
class BoneInfo:
    """One bone at rest, in armature space (Blender's Bone.head_local / tail_local / matrix_local)."""

    name: str
    parent: str | None
    head: tuple[float, float, float]
    tail: tuple[float, float, float]
    use_deform: bool = True
    matrix: tuple[tuple[float, ...], ...] | None = None  # 4x4 rest matrix; None: roll 0 assumed

    @property
    def length(self) -> float:
        return float(np.linalg.norm(np.subtract(self.tail, self.head)))

    def rest_matrix(self) -> np.ndarray:
        """The bone's rest axes (Y along the bone), as Blender poses it, so offsets follow the bone."""
        if self.matrix is not None:
            return np.asarray(self.matrix, dtype=np.float64)
        out = np.eye(4)
        out[:3, :3] = _rotation_y_to(np.subtract(self.tail, self.head))
        out[:3, 3] = self.head
        return out


@dataclass(frozen=True)
class JointSource:
    """A point fixed in a bone: its head, its tail, or ``offset`` from its head in its own rest axes."""

    bone: str
    end: str = "head"
    offset: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.end not in ("head", "tail"):
            raise RigMappingError(f"bone end must be 'head' or 'tail', not {self.end!r}")

    def local_point(self, bone_length: float) -> np.ndarray:
        """The point in the bone's own axes (origin at the head, +Y towards the tail)."""
        if self.offset is not None:
            return np.asarray(self.offset, dtype=np.float64)
        return np.array([0.0, bone_length if self.end == "tail" else 0.0, 0.0])

    def to_dict(self) -> dict:
        out: dict = {"bone": self.bone, "end": self.end}
        if self.offset is not None:
            out["offset"] = list(self.offset)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> JointSource:
        offset = data.get("offset")
        return cls(str(data["bone"]), str(data.get("end", "head")), tuple(offset) if offset else None)


def _rotation_y_to(direction: np.ndarray) -> np.ndarray:
    """Smallest rotation taking +Y onto ``direction`` (Blender's bone axes at roll 0)."""
    norm = np.linalg.norm(direction)
    if norm == 0:
        return np.eye(3)
    y = np.asarray(direction, dtype=np.float64) / norm
    axis = np.cross([0.0, 1.0, 0.0], y)
    s, c = np.linalg.norm(axis), y[1]
    if s < 1e-9:
        return np.eye(3) if c > 0 else np.diag([-1.0, -1.0, 1.0])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]) / s
    return np.eye(3) + s * k + (1 - c) * (k @ k)
