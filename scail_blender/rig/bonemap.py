"""Which bone gives which SCAIL point: SMPL body joints, 21-point hands and face marks.

Works on plain bone tables (BoneInfo) so the mapping is testable without Blender; the bpy
reader only fills the table and evaluates the chosen bones per frame. Every point is a spot
fixed in one bone (its head, its tail, or an offset in its own axes), so one matrix per bone
and frame places every point, and face marks placed by rule turn with the head.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, RigMappingError
from .bones import JointSource
from ..pose.skeleton import SLOT_FROM_SMPL, SMPL_JOINT_NAMES
from .presets import FINGERS, PRESETS, SMPL_ROLES

REQUIRED = tuple(sorted(SLOT_FROM_SMPL))
STRUCTURE_PRESET = "by structure (a guess)"
SIDES = ("left", "right")
HAND_POINT_NAMES = ("wrist",) + tuple(f"{finger}{k}" for finger in FINGERS for k in range(1, 5))
HEAD_MARK_NAMES = ("nose", "right_eye", "left_eye", "right_ear", "left_ear")

SMPL_INDEX = {role_side: i for i, role_side in enumerate(SMPL_ROLES)}
SIDE_LETTER = {"left": "L", "right": "R"}


@dataclass
class BoneMap:
    """Sources of the 24 SMPL joints (by SMPL index), 2 x 21 hand points and 5 face marks."""

    body: dict[int, JointSource]
    hands: dict[str, list[JointSource | None]] = field(
        default_factory=lambda: {side: [None] * 21 for side in SIDES})
    head_marks: list[JointSource | None] = field(default_factory=lambda: [None] * 5)
    preset: str = ""

    def sources(self) -> list[JointSource | None]:
        """Flat list: 24 body joints, left hand 21, right hand 21, 5 face marks (71 points)."""
        body = [self.body.get(i) for i in range(24)]
        return body + list(self.hands["left"]) + list(self.hands["right"]) + list(self.head_marks)

    def bones(self) -> set[str]:
        return {s.bone for s in self.sources() if s is not None}

    def missing_required(self) -> list[str]:
        return [SMPL_JOINT_NAMES[i] for i in REQUIRED if i not in self.body]

    def to_dict(self) -> dict:
        def enc(s: JointSource | None) -> dict | None:
            return None if s is None else s.to_dict()

        return {
            "preset": self.preset,
            "body": {SMPL_JOINT_NAMES[i]: s.to_dict() for i, s in sorted(self.body.items())},
            "hands": {side: [enc(s) for s in pts] for side, pts in self.hands.items()},
            "head_marks": [enc(s) for s in self.head_marks],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> BoneMap:
        def dec(d: Mapping | None) -> JointSource | None:
            return None if d is None else JointSource.from_dict(d)

        try:
            body = {SMPL_JOINT_NAMES.index(k): JointSource.from_dict(v) for k, v in data["body"].items()}
            hands = {side: [dec(d) for d in data["hands"][side]] for side in SIDES}
            marks = [dec(d) for d in data["head_marks"]]
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise RigMappingError(f"stored bone map is damaged ({exc}); map the character again and save it") from exc
        return cls(body, hands, marks, str(data.get("preset", "")))


def load_bonemap(path: str | os.PathLike) -> BoneMap:
    """A bone map saved by the panel (Save Bone Map) or by ``save_bonemap``: BoneMap.to_dict as JSON."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Bone map {path} does not exist: save one from the panel (Save Bone Map).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"Bone map {path} is not readable JSON ({exc}); save it again from the panel.") from None
    if not isinstance(data, dict):
        raise InputError(f"Bone map {path} holds {type(data).__name__}, not a bone map; save it again from the panel.")
    return BoneMap.from_dict(data)


def save_bonemap(bonemap: BoneMap, path: str | os.PathLike) -> None:
    Path(path).write_text(json.dumps(bonemap.to_dict(), indent=1) + "\n", encoding="utf-8")


def sources_points(sources: Sequence[JointSource | None], matrices: Mapping[str, np.ndarray],
                   lengths: Mapping[str, float]) -> np.ndarray:
    """Evaluate sources given each bone's 4x4 matrix (rest or posed): [N, 3], NaN where unmapped."""
    out = np.full((len(sources), 3), np.nan)
    for i, source in enumerate(sources):
        if source is not None:
            matrix = np.asarray(matrices[source.bone], dtype=np.float64)
            out[i] = matrix[:3, :3] @ source.local_point(lengths[source.bone]) + matrix[:3, 3]
    return out


@dataclass
class MappingReport:
    """What auto_map found, what it could not, and what looks wrong, in words for the panel."""

    preset: str
    mapped: list[str]
    missing_required: list[str]
    missing_optional: list[str]
    suspicious: list[str]
    hands: dict[str, int]  # side -> number of the 21 hand points mapped
    face_from_rule: list[str]  # face marks placed by the head-bone rule
    guessed: dict[str, str] = field(default_factory=dict)  # joint -> how it was found, where not by its name

    @property
    def ok(self) -> bool:
        return not self.missing_required

    def how_to_fix(self) -> str:
        """What to do about the joints still missing, named one by one (empty when none is:
        guesses to check are the report's Check lines)."""
        if self.ok:
            return ""
        return (f"Set {', '.join(self.missing_required)} by hand: in Characters > Manual bone choices press + "
                "for each, choose the joint, its bone (or select the bone and press Use Selected Bone) and Head "
                "or Tail; for the command line save the result with Save Bone Map and pass it with --bonemap. "
                "Or rename the bones after a supported convention: " + ", ".join(PRESETS) + ".")

    def summary(self) -> str:
        lines = [f"Convention: {self.preset or 'unknown'}; {len(self.mapped)}/24 SMPL joints mapped, "
                 f"{14 - len(self.missing_required)}/14 SCAIL joints; hand points "
                 f"left {self.hands['left']}/21, right {self.hands['right']}/21."]
        if self.missing_required:
            lines.append("Missing (required): " + ", ".join(self.missing_required))
        if self.face_from_rule:
            lines.append("Placed from the head bone: " + ", ".join(self.face_from_rule))
        lines += [f"Check: {s}" for s in self.suspicious]
        fix = self.how_to_fix()
        return "\n".join(lines + ([fix] if fix else []))
