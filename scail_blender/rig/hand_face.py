"""Hand and face points of a rig: finger chains by name, face marks from bones, the head mesh or
a rule in the head bone's frame.

Face marks are fixed in the head bone whichever way they were found, so they turn with the head.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from .bonemap import HEAD_MARK_NAMES, SIDE_LETTER, SMPL_INDEX
from .bones import BoneInfo, JointSource
from .face import face_axes, marks_from_head_mesh
from .fingers import capped_note, finger_points
from .name_index import NameIndex, resolve, rest_point
from .presets import FINGERS, PRESETS, Preset

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


def _finger_chain(index: NameIndex, stems: Iterable[str], side: str, finger: str,
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


def hand_sources(index: NameIndex, preset: Preset | None, side: str,
                  body: dict[int, JointSource], notes: list[str]) -> list[JointSource | None]:
    letter = SIDE_LETTER[side]
    points: list[JointSource | None] = [body.get(SMPL_INDEX[("wrist", letter)])] + [None] * 20
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


def head_mark_sources(index: NameIndex, preset: Preset | None, body: dict[int, JointSource],
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
        marks.append(overrides.get(k) or resolve(index, specs, side))
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


def _head_frame(index: NameIndex, body: dict[int, JointSource]) -> tuple[BoneInfo, np.ndarray] | None:
    """The head bone and the character's (left, up, forward) axes at rest: left from the
    shoulders (else hips, collars), up along the head bone (along the neck-to-head line when the
    head bone is too short to point anywhere, or points sideways as glTF importers leave it)."""
    head_src = body.get(SMPL_INDEX[("head", "")])
    if head_src is None:
        return None
    pairs = [(SMPL_INDEX[(r, "L")], SMPL_INDEX[(r, "R")]) for r in ("shoulder", "hip", "collar")]
    pair = next(((a, b) for a, b in pairs if a in body and b in body), None)
    if pair is None:
        return None
    left = rest_point(index, body[pair[0]]) - rest_point(index, body[pair[1]])
    head_bone = index.bones[head_src.bone]
    up = np.subtract(head_bone.tail, head_bone.head)
    neck_src = body.get(SMPL_INDEX[("neck", "")])
    if neck_src is not None:
        neck_up = rest_point(index, head_src) - rest_point(index, neck_src)
        sideways = abs(float(up @ left)) > 0.7 * head_bone.length * np.linalg.norm(left)
        if head_bone.length < MIN_HEAD_SHARE * np.linalg.norm(neck_up) or sideways:
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


def _face_rule(index: NameIndex, body: dict[int, JointSource], head_bone: BoneInfo, axes: np.ndarray
               ) -> tuple[dict[str, JointSource] | None, str]:
    """Face marks fixed in the head bone, from FACE_RULE (the last resort). A head bone much
    shorter than the neck-to-head distance (a BVH end site) would put them in the neck: none then."""
    head_src = body[SMPL_INDEX[("head", "")]]
    size = head_bone.length
    neck_src = body.get(SMPL_INDEX[("neck", "")])
    if neck_src is not None:
        neck_to_head = float(np.linalg.norm(rest_point(index, head_src) - rest_point(index, neck_src)))
        if neck_to_head > 0:
            if size < MIN_HEAD_SHARE * neck_to_head:
                return None, (f"the head bone '{head_bone.name}' is {size / neck_to_head:.0%} of the neck-to-head "
                              "distance, too short to size a face by, and no mesh is weighted to it")
            size = float(min(size, 3.0 * neck_to_head))
    if size == 0:
        return None, f"the head bone '{head_bone.name}' has no length and no mesh is weighted to it"
    left, up, forward = axes
    origin = rest_point(index, head_src)
    inverse = np.linalg.inv(head_bone.rest_matrix())
    out = {}
    for name, (a, b, c) in FACE_RULE.items():
        point = origin + size * (a * left + b * up + c * forward)
        local = inverse[:3, :3] @ point + inverse[:3, 3]
        out[name] = JointSource(head_bone.name, "head", tuple(float(v) for v in local))
    return out, ""
