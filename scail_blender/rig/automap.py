"""Mapping a rig to the SCAIL points: by name (best matching convention, then unambiguous names of
the others), then along the bone tree, then by structure alone, then the user's own choices.

Each step fills only what the steps before left open and says what it guessed, so the report can
tell a joint found by its name from one found by the shape of the skeleton.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import RigMappingError
from ..pose.skeleton import SMPL_JOINT_NAMES
from .bonemap import (HAND_POINT_NAMES, HEAD_MARK_NAMES, REQUIRED, SIDE_LETTER, SIDES, SMPL_INDEX, STRUCTURE_PRESET,
                      BoneMap, MappingReport)
from .bones import BoneInfo, JointSource
from .hand_face import hand_sources, head_mark_sources
from .name_index import NameIndex, resolve, rest_point
from .names import parse_name
from .presets import PRESETS, SMPL_ROLES, Preset, unambiguous_fallbacks
from .structure import explain_structure, map_by_structure

_CHAINS = (("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle"), ("neck", "head"))


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
    index = NameIndex(bones)
    preset, body = _best_preset(index)
    suspicious: list[str] = []
    guessed: dict[int, str] = {}
    _fill_from_other_presets(index, body)
    _fill_from_hierarchy(index, body, suspicious, guessed)
    name = preset.name if preset else ""
    guess = None
    if by_structure and any(i not in body for i in REQUIRED):
        guess = map_by_structure(bones)
        if guess is None:
            suspicious.append(f"mapping by structure failed: {explain_structure(bones)}")
    if guess is not None:
        found = sum(i in body for i in REQUIRED)
        if found < len(REQUIRED) // 2:
            body, guessed = dict(guess.body), {}  # the names said little: trust the structure throughout
            taken = guess.body
        else:
            used = {s.bone for s in body.values()}
            taken = {i: s for i, s in guess.body.items() if i not in body and s.bone not in used}
            body.update(taken)
        guessed.update({i: "by structure: " + guess.guessed.get(i, "the bone tree") for i in taken})
        name = STRUCTURE_PRESET
        suspicious.append("joints placed from the bone tree and rest pose, not from names (a guess): check the "
                          "skeleton in the viewport (Show Skeleton) and fix any joint with a manual bone choice")
        suspicious += guess.findings

    override_body, override_hands, override_marks = _split_overrides(overrides or {}, index)
    body.update(override_body)
    guessed = {i: why for i, why in guessed.items() if i not in override_body}
    hands = {side: hand_sources(index, preset, side, body, suspicious) for side in SIDES}
    for side in SIDES:
        if guess is not None and all(p is None for p in hands[side][1:]) and guess.hands.get(side):
            hands[side] = list(guess.hands[side])
            suspicious += [n for n in guess.notes if n.startswith(side)]
        if any(p is not None for p in hands[side][1:]):
            hands[side][0] = body.get(SMPL_INDEX[("wrist", SIDE_LETTER[side])])
    for (side, k), source in override_hands.items():
        hands[side][k] = source
    marks, from_rule = head_mark_sources(index, preset, body, override_marks, head_mesh, suspicious)

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
        guessed={SMPL_JOINT_NAMES[i]: why for i, why in sorted(guessed.items())},
    )
    return bonemap, report


def _best_preset(index: NameIndex) -> tuple[Preset | None, dict[int, JointSource]]:
    best: tuple[tuple[int, int], Preset | None, dict[int, JointSource]] = ((0, 0), None, {})
    for preset in PRESETS.values():
        body = {}
        for i, (role, side) in enumerate(SMPL_ROLES):
            source = resolve(index, preset.body[role], side)
            if source is not None:
                body[i] = source
        score = (sum(i in body for i in REQUIRED), len(body))
        if score > best[0]:
            best = (score, preset, body)
    return best[1], best[2]


def _fill_from_other_presets(index: NameIndex, body: dict[int, JointSource]) -> None:
    fallbacks = unambiguous_fallbacks()
    used = {s.bone for s in body.values()}
    for i, (role, side) in enumerate(SMPL_ROLES):
        if i not in body:
            source = resolve(index, fallbacks.get(role, ()), side)
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


def _next_joint_bone(index: NameIndex, bone: str) -> str | None:
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


def _previous_joint_bone(index: NameIndex, bone: str) -> str | None:
    """Walk up from ``bone``'s parent to the first bone of that parent's segment run."""
    parent = index.bones[bone].parent
    if parent is None:
        return None
    while (grand := index.bones[parent].parent) is not None and _is_segment(parent, grand):
        parent = grand
    return parent


def _fill_from_hierarchy(index: NameIndex, body: dict[int, JointSource], suspicious: list[str],
                         guessed: dict[int, str]) -> None:
    """Fill gaps in arm, leg and neck chains from the bone tree: an elbow is where the bone after
    the upper arm starts, a shoulder where the bone before the forearm starts."""
    for side in ("L", "R", ""):
        for chain in _CHAINS:
            keys = [SMPL_INDEX.get((role, side)) for role in chain]
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
                        guessed[joint] = f"from the hierarchy ({origin}: '{guess}')"
                        suspicious.append(f"{SMPL_JOINT_NAMES[joint]}: guessed from the hierarchy "
                                          f"({origin}: '{guess}')")
                        changed = True


def _split_overrides(overrides: Mapping[str, JointSource | str], index: NameIndex):
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


def _suspicious(index: NameIndex, bonemap: BoneMap) -> list[str]:
    notes = []
    by_bone: dict[JointSource, list[str]] = {}
    for i, source in bonemap.body.items():
        by_bone.setdefault(source, []).append(SMPL_JOINT_NAMES[i])
    for source, joints in by_bone.items():
        if len(joints) > 1:
            notes.append(f"{' and '.join(joints)} all come from the {source.end} of '{source.bone}'")
    pts = {i: rest_point(index, s) for i, s in bonemap.body.items()}
    for role_a, role_b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle")):
        lengths = {}
        for side in ("L", "R"):
            a, b = SMPL_INDEX[(role_a, side)], SMPL_INDEX[(role_b, side)]
            if a in pts and b in pts:
                lengths[side] = float(np.linalg.norm(pts[a] - pts[b]))
        if len(lengths) == 2 and max(lengths.values()) > 1.3 * min(lengths.values()):
            notes.append(f"{role_a}-{role_b}: left and right lengths differ "
                         f"({lengths['L']:.3g} vs {lengths['R']:.3g}); check both sides' bones")
    return notes
