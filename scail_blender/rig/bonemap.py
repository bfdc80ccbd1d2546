"""Which bone gives which SCAIL point: SMPL body joints, 21-point hands and face marks.

Works on plain bone tables (BoneInfo) so the mapping is testable without Blender; the bpy
reader only fills the table and evaluates the chosen bones per frame. Every point is a spot
fixed in one bone (its head, its tail, or an offset in its own axes), so one matrix per bone
and frame places every point, and face marks placed by rule turn with the head.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, RigMappingError
from .bones import BoneInfo, JointSource
from .face import face_axes, marks_from_head_mesh
from .fingers import capped_note, finger_points
from .structure import explain_structure, map_by_structure
from ..pose.skeleton import SLOT_FROM_SMPL, SMPL_JOINT_NAMES
from .names import LAYER_RANK, parse_name
from .presets import FINGERS, PRESETS, SMPL_ROLES, Preset, unambiguous_fallbacks

REQUIRED = tuple(sorted(SLOT_FROM_SMPL))
STRUCTURE_PRESET = "by structure (a guess)"
SIDES = ("left", "right")
HAND_POINT_NAMES = ("wrist",) + tuple(f"{finger}{k}" for finger in FINGERS for k in range(1, 5))
HEAD_MARK_NAMES = ("nose", "right_eye", "left_eye", "right_ear", "left_ear")

# Face marks placed from the head bone when the rig has no eye/ear/nose bones, as (towards the
# character's left, up the head bone, forwards) in head-bone lengths from the head bone's head.
# Measured on Blender's Rigify human metarig, whose head bone runs from the skull base to the crown.
FACE_RULE = {
    "nose": (0.0, 0.32, 0.86),
    "right_eye": (-0.26, 0.57, 0.60),
    "left_eye": (0.26, 0.57, 0.60),
    "right_ear": (-0.46, 0.40, 0.03),
    "left_ear": (0.46, 0.40, 0.03),
}

# A head bone shorter than this share of the neck-to-head distance cannot size the face rule.
MIN_HEAD_SHARE = 0.3

_CHAINS = (("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle"), ("neck", "head"))
_SMPL_INDEX = {role_side: i for i, role_side in enumerate(SMPL_ROLES)}
_SIDE_LETTER = {"left": "L", "right": "R"}


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


def rest_points(bones: Sequence[BoneInfo], bonemap: BoneMap) -> np.ndarray:
    """All 71 points of ``bonemap`` at the rest pose, armature space, NaN where unmapped."""
    by_name = {b.name: b for b in bones}
    needed = bonemap.bones()
    return sources_points(bonemap.sources(), {n: by_name[n].rest_matrix() for n in needed},
                          {n: by_name[n].length for n in needed})


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

    @property
    def ok(self) -> bool:
        return not self.missing_required

    def how_to_fix(self) -> str:
        """What to do about missing joints; nothing when none is missing (the "Check:" notes say
        what to look at, and a map that is complete needs no joint set by hand)."""
        if self.ok:
            return ""
        names = ", ".join(self.missing_required)
        return (f"Set {names} by hand (Bone mapping override: pick the bone and head or tail), or rename "
                "the bones after a supported convention: " + ", ".join(PRESETS) + ".")

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


def auto_map(bones: Sequence[BoneInfo], overrides: Mapping[str, JointSource | str] | None = None,
             head_mesh: np.ndarray | None = None, by_structure: bool = True) -> tuple[BoneMap, MappingReport]:
    """Map a rig by name (best matching convention, then unambiguous names of the others), then
    by hierarchy for arm, leg and neck chains, then, when joints are still missing, by structure
    alone (structure.py, reported as a guess), then apply ``overrides``.

    ``overrides`` maps point names (SMPL joint names such as "left_elbow", "left_hand.index2",
    "nose", "right_ear") to a JointSource or a bone name (its head). ``head_mesh`` are the rest
    positions (armature space) of the mesh vertices weighted to the head bone, which place the
    face marks when the rig has no eye, ear or nose bones (face.py).
    """
    if not bones:
        raise RigMappingError("the armature has no bones; pick the character's armature")
    index = _NameIndex(bones)
    preset, body = _best_preset(index)
    suspicious: list[str] = []
    _fill_from_other_presets(index, body)
    _fill_from_hierarchy(index, body, suspicious)
    name = preset.name if preset else ""
    guess = None
    if by_structure and any(i not in body for i in REQUIRED):
        guess = map_by_structure(bones)
        if guess is None:
            suspicious.append(f"mapping by structure failed: {explain_structure(bones)}")
    if guess is not None:
        found = sum(i in body for i in REQUIRED)
        if found < len(REQUIRED) // 2:
            body = dict(guess.body)  # the names said little: trust the structure throughout
        else:
            used = {s.bone for s in body.values()}
            body.update({i: s for i, s in guess.body.items() if i not in body and s.bone not in used})
        name = STRUCTURE_PRESET
        suspicious.append("joints placed from the bone tree and rest pose, not from names (a guess): check the "
                          "skeleton in the viewport (Show Skeleton) and fix any joint with a manual bone choice")

    override_body, override_hands, override_marks = _split_overrides(overrides or {}, index)
    body.update(override_body)
    hands = {side: _hand_sources(index, preset, side, body, suspicious) for side in SIDES}
    for side in SIDES:
        if guess is not None and all(p is None for p in hands[side][1:]) and guess.hands.get(side):
            hands[side] = list(guess.hands[side])
            suspicious += [n for n in guess.notes if n.startswith(side)]
        if any(p is not None for p in hands[side][1:]):
            hands[side][0] = body.get(_SMPL_INDEX[("wrist", _SIDE_LETTER[side])])
    for (side, k), source in override_hands.items():
        hands[side][k] = source
    marks, from_rule = _head_mark_sources(index, preset, body, override_marks, head_mesh, suspicious)

    bonemap = BoneMap(body, hands, marks, name)
    suspicious += _suspicious(index, bonemap)
    report = MappingReport(
        preset=bonemap.preset,
        mapped=[SMPL_JOINT_NAMES[i] for i in sorted(body)],
        missing_required=bonemap.missing_required(),
        missing_optional=[SMPL_JOINT_NAMES[i] for i in range(24) if i not in body and i not in REQUIRED],
        suspicious=suspicious,
        hands={side: sum(s is not None for s in hands[side]) for side in SIDES},
        face_from_rule=from_rule,
    )
    return bonemap, report


class _NameIndex:
    """Bones by (side, canonical base), keeping the best layer (DEF > ORG > plain > MCH) and deform bones."""

    def __init__(self, bones: Sequence[BoneInfo]) -> None:
        self.bones = {b.name: b for b in bones}
        self.children: dict[str, list[str]] = {}
        ranked: dict[tuple[str, str], tuple[tuple, str]] = {}
        for order, bone in enumerate(bones):
            if bone.parent:
                self.children.setdefault(bone.parent, []).append(bone.name)
            parsed = parse_name(bone.name)
            rank = (LAYER_RANK[parsed.layer], not bone.use_deform, order)
            key = (parsed.side, parsed.base)
            if key not in ranked or rank < ranked[key][0]:
                ranked[key] = (rank, bone.name)
        self.by_key = {key: name for key, (_, name) in ranked.items()}

    def find(self, spec: str, side: str) -> JointSource | None:
        base, _, end = spec.partition(":")
        name = self.by_key.get((side, base))
        return JointSource(name, end or "head") if name else None

    def descendants(self, name: str) -> int:
        return sum(1 + self.descendants(c) for c in self.children.get(name, ()))


def _resolve(index: _NameIndex, specs: Iterable[str], side: str) -> JointSource | None:
    for spec in specs:
        source = index.find(spec, side)
        if source is not None:
            return source
    return None


def _best_preset(index: _NameIndex) -> tuple[Preset | None, dict[int, JointSource]]:
    best: tuple[tuple[int, int], Preset | None, dict[int, JointSource]] = ((0, 0), None, {})
    for preset in PRESETS.values():
        body = {}
        for i, (role, side) in enumerate(SMPL_ROLES):
            source = _resolve(index, preset.body[role], side)
            if source is not None:
                body[i] = source
        score = (sum(i in body for i in REQUIRED), len(body))
        if score > best[0]:
            best = (score, preset, body)
    return best[1], best[2]


def _fill_from_other_presets(index: _NameIndex, body: dict[int, JointSource]) -> None:
    fallbacks = unambiguous_fallbacks()
    used = {s.bone for s in body.values()}
    for i, (role, side) in enumerate(SMPL_ROLES):
        if i not in body:
            source = _resolve(index, fallbacks.get(role, ()), side)
            if source is not None and source.bone not in used:
                body[i] = source
                used.add(source.bone)


def _stem(name: str) -> str:
    """Base name without its trailing segment number: upper_arm.L.001 and upper_arm.L share one."""
    parsed = parse_name(name)
    return parsed.side + parsed.base.rstrip("0123456789")


def _is_segment(child: str, parent: str) -> bool:
    """True for twist and B-bone segment bones that continue the same limb part. Blender's default
    names (Bone, Bone.001) say nothing about the body, so they never make a segment."""
    stem = _stem(child)
    return (stem == _stem(parent) and stem.lstrip("LR") not in ("bone", "")) or "twist" in parse_name(child).base


def _next_joint_bone(index: _NameIndex, bone: str) -> str | None:
    """Walk down the main chain (the child with most descendants) past segment bones."""
    current = bone
    while True:
        children = [c for c in index.children.get(current, ()) if "twist" not in parse_name(c).base]
        if not children:
            return None
        child = max(children, key=index.descendants)
        if not _is_segment(child, bone):
            return child
        current = child


def _previous_joint_bone(index: _NameIndex, bone: str) -> str | None:
    """Walk up from ``bone``'s parent to the first bone of that parent's segment run."""
    parent = index.bones[bone].parent
    if parent is None:
        return None
    while (grand := index.bones[parent].parent) is not None and _is_segment(parent, grand):
        parent = grand
    return parent


def _fill_from_hierarchy(index: _NameIndex, body: dict[int, JointSource], suspicious: list[str]) -> None:
    """Fill gaps in arm, leg and neck chains from the bone tree: an elbow is where the bone after
    the upper arm starts, a shoulder where the bone before the forearm starts."""
    for side in ("L", "R", ""):
        for chain in _CHAINS:
            keys = [_SMPL_INDEX.get((role, side)) for role in chain]
            if None in keys:
                continue
            changed = True
            while changed:
                changed = False
                for k, joint in enumerate(keys):
                    if joint in body:
                        continue
                    guess = None
                    if k > 0 and keys[k - 1] in body:
                        guess = _next_joint_bone(index, body[keys[k - 1]].bone)
                        origin = f"the bone after '{body[keys[k - 1]].bone}'"
                    if guess is None and k + 1 < len(keys) and keys[k + 1] in body:
                        guess = _previous_joint_bone(index, body[keys[k + 1]].bone)
                        origin = f"the bone before '{body[keys[k + 1]].bone}'"
                    if guess is not None and guess not in {s.bone for s in body.values()}:
                        body[joint] = JointSource(guess)
                        suspicious.append(f"{SMPL_JOINT_NAMES[joint]}: guessed from the hierarchy "
                                          f"({origin}: '{guess}')")
                        changed = True


def _split_overrides(overrides: Mapping[str, JointSource | str], index: _NameIndex):
    body: dict[int, JointSource] = {}
    hands: dict[tuple[str, int], JointSource] = {}
    marks: dict[int, JointSource] = {}
    for key, value in overrides.items():
        source = value if isinstance(value, JointSource) else JointSource(str(value))
        if source.bone not in index.bones:
            raise RigMappingError(f"override {key}: the armature has no bone named {source.bone!r}; "
                                  "pick one of its bones")
        side, _, point = key.partition("_hand.")
        if key in SMPL_JOINT_NAMES:
            body[SMPL_JOINT_NAMES.index(key)] = source
        elif key in HEAD_MARK_NAMES:
            marks[HEAD_MARK_NAMES.index(key)] = source
        elif side in SIDES and point in HAND_POINT_NAMES:
            hands[(side, HAND_POINT_NAMES.index(point))] = source
        else:
            raise RigMappingError(
                f"unknown point {key!r} in the bone overrides; use an SMPL joint name ({SMPL_JOINT_NAMES[1]}, ...), "
                f"a face mark ({', '.join(HEAD_MARK_NAMES)}) or left_hand./right_hand. followed by "
                f"{', '.join(HAND_POINT_NAMES[:3])} ... {HAND_POINT_NAMES[-1]}")
    return body, hands, marks


def _finger_chain(index: _NameIndex, stems: Iterable[str], side: str, finger: str,
                  capped: dict[str, float]) -> list[JointSource] | None:
    """Four points of a finger from its numbered bones (numbering from 0 or 1): the fourth
    numbered bone, else the third's only child, is the tip bone (see fingers.py)."""
    for stem in stems:
        for first in (1, 0):
            names = [index.by_key.get((side, f"{stem}{first + k}")) for k in range(4)]
            if all(names[:3]):
                tip = names[3]
                if tip is None and len(index.children.get(names[2], ())) == 1:
                    tip = index.children[names[2]][0]
                chain = [index.bones[n] for n in names[:3]] + ([index.bones[tip]] if tip else [])
                return finger_points(chain, finger, capped)
    return None


def _hand_sources(index: _NameIndex, preset: Preset | None, side: str,
                  body: dict[int, JointSource], notes: list[str]) -> list[JointSource | None]:
    letter = _SIDE_LETTER[side]
    points: list[JointSource | None] = [body.get(_SMPL_INDEX[("wrist", letter)])] + [None] * 20
    capped: dict[str, float] = {}
    for f, finger in enumerate(FINGERS):
        stems = (preset.fingers.get(finger, ()) if preset else ()) + tuple(
            stem for p in PRESETS.values() for stem in p.fingers.get(finger, ()))
        chain = _finger_chain(index, dict.fromkeys(stems), letter, finger, capped)
        if chain:
            points[1 + 4 * f: 5 + 4 * f] = chain
    if capped:
        notes.append(capped_note(side, capped))
    if all(p is None for p in points[1:]):
        return [None] * 21
    return points


def _head_mark_sources(index: _NameIndex, preset: Preset | None, body: dict[int, JointSource],
                       overrides: Mapping[int, JointSource], head_mesh: np.ndarray | None,
                       notes: list[str]) -> tuple[list[JointSource | None], list[str]]:
    """Face marks: the user's choices, then eye/ear/nose bones (placed by the rig's author on
    the features), then the head's mesh, then the head-bone rule; none when nothing is usable."""
    face = dict(preset.face) if preset else {}
    generic = {"eye": ("eye", "faceeye", "eyesmplhf"), "ear": ("ear",), "nose": ()}
    marks: list[JointSource | None] = []
    for k, name in enumerate(HEAD_MARK_NAMES):
        part = name.split("_")[-1]
        side = {"right": "R", "left": "L"}.get(name.split("_")[0], "")
        specs = face.get(part, ()) + generic[part]
        marks.append(overrides.get(k) or _resolve(index, specs, side))
    if all(m is not None for m in marks):
        return marks, []
    frame = _head_frame(index, body)
    if frame is None:
        notes.append("no face marks: the rig has no head bone or no left-right pair (shoulders or hips) to "
                     "orient a face by; choose eye, ear and nose bones by hand")
        return marks, []
    head_bone, axes = frame
    placed = _face_from_mesh(head_bone, axes, head_mesh)
    if placed is not None:
        for k, name in enumerate(HEAD_MARK_NAMES):
            if marks[k] is None:
                marks[k] = placed[name]
        notes.append(f"face marks placed from the head mesh (vertices weighted to '{head_bone.name}')")
        return marks, []
    placed, reason = _face_rule(index, body, head_bone, axes)
    if placed is None:
        notes.append(f"no face marks: {reason}")
        return marks, []
    from_rule = []
    for k, name in enumerate(HEAD_MARK_NAMES):
        if marks[k] is None:
            marks[k] = placed[name]
            from_rule.append(name)
    return marks, from_rule


def _head_frame(index: _NameIndex, body: dict[int, JointSource]) -> tuple[BoneInfo, np.ndarray] | None:
    """The head bone and the character's (left, up, forward) axes at rest: left from the
    shoulders (else hips, collars), up along the head bone (along the neck-to-head line when the
    head bone is too short to point anywhere)."""
    head_src = body.get(_SMPL_INDEX[("head", "")])
    if head_src is None:
        return None
    pairs = [(_SMPL_INDEX[(r, "L")], _SMPL_INDEX[(r, "R")]) for r in ("shoulder", "hip", "collar")]
    pair = next(((a, b) for a, b in pairs if a in body and b in body), None)
    if pair is None:
        return None
    left = _rest_point(index, body[pair[0]]) - _rest_point(index, body[pair[1]])
    head_bone = index.bones[head_src.bone]
    up = np.subtract(head_bone.tail, head_bone.head)
    neck_src = body.get(_SMPL_INDEX[("neck", "")])
    if neck_src is not None:
        neck_up = _rest_point(index, head_src) - _rest_point(index, neck_src)
        if head_bone.length < MIN_HEAD_SHARE * np.linalg.norm(neck_up):
            up = neck_up
    axes = face_axes(left, up)
    return None if axes is None else (head_bone, axes)


def _face_from_mesh(head_bone: BoneInfo, axes: np.ndarray, head_mesh: np.ndarray | None
                    ) -> dict[str, JointSource] | None:
    if head_mesh is None:
        return None
    placed = marks_from_head_mesh(head_mesh, axes)
    if placed is None:
        return None
    inverse = np.linalg.inv(head_bone.rest_matrix())
    return {name: JointSource(head_bone.name, "head", tuple(float(v) for v in inverse[:3, :3] @ p + inverse[:3, 3]))
            for name, p in placed.items()}


def _face_rule(index: _NameIndex, body: dict[int, JointSource], head_bone: BoneInfo, axes: np.ndarray
               ) -> tuple[dict[str, JointSource] | None, str]:
    """Face marks fixed in the head bone, from FACE_RULE (the last resort). A head bone much
    shorter than the neck-to-head distance (a BVH end site) would put them in the neck: none then."""
    head_src = body[_SMPL_INDEX[("head", "")]]
    size = head_bone.length
    neck_src = body.get(_SMPL_INDEX[("neck", "")])
    if neck_src is not None:
        neck_to_head = float(np.linalg.norm(_rest_point(index, head_src) - _rest_point(index, neck_src)))
        if neck_to_head > 0:
            if size < MIN_HEAD_SHARE * neck_to_head:
                return None, (f"the head bone '{head_bone.name}' is {size / neck_to_head:.0%} of the neck-to-head "
                              "distance, too short to size a face by, and no mesh is weighted to it")
            size = float(min(size, 3.0 * neck_to_head))
    if size == 0:
        return None, f"the head bone '{head_bone.name}' has no length and no mesh is weighted to it"
    left, up, forward = axes
    origin = _rest_point(index, head_src)
    inverse = np.linalg.inv(head_bone.rest_matrix())
    out = {}
    for name, (a, b, c) in FACE_RULE.items():
        point = origin + size * (a * left + b * up + c * forward)
        local = inverse[:3, :3] @ point + inverse[:3, 3]
        out[name] = JointSource(head_bone.name, "head", tuple(float(v) for v in local))
    return out, ""


def _rest_point(index: _NameIndex, source: JointSource) -> np.ndarray:
    bone = index.bones[source.bone]
    matrix = bone.rest_matrix()
    return matrix[:3, :3] @ source.local_point(bone.length) + matrix[:3, 3]


def _suspicious(index: _NameIndex, bonemap: BoneMap) -> list[str]:
    notes = []
    by_bone: dict[JointSource, list[str]] = {}
    for i, source in bonemap.body.items():
        by_bone.setdefault(source, []).append(SMPL_JOINT_NAMES[i])
    for source, joints in by_bone.items():
        if len(joints) > 1:
            notes.append(f"{' and '.join(joints)} all come from the {source.end} of '{source.bone}'")
    pts = {i: _rest_point(index, s) for i, s in bonemap.body.items()}
    for role_a, role_b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle")):
        lengths = {}
        for side in ("L", "R"):
            a, b = _SMPL_INDEX[(role_a, side)], _SMPL_INDEX[(role_b, side)]
            if a in pts and b in pts:
                lengths[side] = float(np.linalg.norm(pts[a] - pts[b]))
        if len(lengths) == 2 and max(lengths.values()) > 1.3 * min(lengths.values()):
            notes.append(f"{role_a}-{role_b}: left and right lengths differ "
                         f"({lengths['L']:.3g} vs {lengths['R']:.3g}); check both sides' bones")
    return notes
