"""Map a humanoid rig by its structure alone: no bone names, only the tree and the rest pose.

Exporters and rig tools often leave names that say nothing (``Bone.001``, ``joint17``). The
tree still says which bones form a body (chains.py finds the legs, arms and head chain, and
what to leave out). Along each chain the joints are the bone heads whose spacing looks like a
human limb (thigh as long as the shank, upper arm a little longer than the forearm, the head
joint about a third of the way from the neck to the crown). Left and right come from the feet,
which point forwards (left = up x forwards); a rig without feet falls back on armature x (the
character's left is +x in Blender, FBX and glTF rigs), and says so. Whatever is there is
mapped; each joint carries how it was found, and limbs that are not there are named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .bones import BoneInfo, JointSource
from .chains import Body, find_body
from .tree import Tree
from .fingers import capped_note, finger_points
from .presets import FINGERS, SMPL_ROLES

_I = {role_side: i for i, role_side in enumerate(SMPL_ROLES)}
# SMPL's head joint sits about this share of the way from the neck joint to the crown.
HEAD_JOINT_SHARE = 0.35
# Upper arm / forearm length in SMPL's rest skeleton.
ARM_RATIO = 1.2
# A limb chain shorter than this share of its partner is cut short (a rig without a forearm).
SHORT_SHARE = 0.7
# Feet tell the front when they point at least this share of their length forwards.
FOOT_SHARE = 0.25
SIDE_WORD = {"L": "left", "R": "right"}


@dataclass
class StructureMap:
    """Sources found by structure (SMPL index -> source), hand points per side, and what the
    user should know: ``guessed`` says for every body joint how it was found, ``findings`` what
    was left out, assumed or not found, ``notes`` what was capped in each hand."""

    body: dict[int, JointSource]
    hands: dict[str, list[JointSource | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    guessed: dict[int, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)


@dataclass
class _Limb:
    """One arm or leg chain: its joint candidates and which of them are which joint."""

    chain: list[str]
    cands: list[tuple[np.ndarray, JointSource]]
    joints: dict[str, int] = field(default_factory=dict)  # role -> index into cands
    how: str = ""

    def point(self, role: str) -> np.ndarray | None:
        return self.cands[self.joints[role]][0] if role in self.joints else None

    def length(self) -> float:
        return float(sum(np.linalg.norm(b[0] - a[0]) for a, b in zip(self.cands, self.cands[1:])))


def map_by_structure(bones: Sequence[BoneInfo]) -> StructureMap | None:
    """The SMPL body joints (and hands where fingers are found) of a humanoid, as many as the
    tree has, or None when it does not look like one (``explain_structure`` says why)."""
    return _map(Tree(bones))[0]


def explain_structure(bones: Sequence[BoneInfo]) -> str:
    """Why ``map_by_structure`` found no humanoid (empty when it did)."""
    return _map(Tree(bones))[1]


def _map(tree: Tree) -> tuple[StructureMap | None, str]:
    layout, why = find_body(tree)
    if layout is None:
        return None, why
    out = StructureMap({_I[("pelvis", "")]: JointSource(layout.pelvis)}, findings=list(layout.notes))
    out.guessed[_I[("pelvis", "")]] = f"where the legs meet ('{layout.pelvis}')"
    legs = [_leg(tree, chain) for chain in layout.legs]
    arms = [_arm(tree, chain) for chain in layout.arms]
    for limbs, kind in ((legs, "leg"), (arms, "arm")):
        if len(limbs) == 2:
            _match_short(limbs, kind)
    sides = _sides(tree, layout, legs, arms, out.findings)
    for limbs, kind in ((legs, "leg"), (arms, "arm")):
        for limb, side in zip(limbs, sides[kind]):
            for role, x in limb.joints.items():
                out.body[_I[(role, side)]] = limb.cands[x][1]
                out.guessed[_I[(role, side)]] = (f"{SIDE_WORD[side]} {kind} chain '{limb.chain[0]}' to "
                                                 f"'{limb.chain[-1]}'{limb.how}")
        for side in ("L", "R"):
            if side not in sides[kind]:
                out.findings.append(f"found no {SIDE_WORD[side]} {kind} in the bone tree")
    if layout.head:
        _neck_and_head(tree, layout.head, out)
    else:
        out.findings.append(f"found no neck or head: no bone goes on up from the chest bone '{layout.chest}'")
    _spine(tree, layout, out)
    for limb, side in zip(arms, sides["arm"]):
        if "wrist" in limb.joints:
            word = SIDE_WORD[side]
            out.hands[word] = _hand(tree, limb.cands[limb.joints["wrist"]][1], out.notes, word)
    return out, ""


def _points(tree: Tree, path: list[str]) -> list[tuple[np.ndarray, JointSource]]:
    """Joint candidates along a chain: each bone's head, then where the last bone ends: its
    tail, or where its children start when the tail is nowhere near them (an importer's choice
    of direction: BrainStem's forearm points up, its fingers start at the hand)."""
    out = [(tree.head(n), JointSource(n)) for n in path]
    last = path[-1]
    children = tree.branches(last) or tree.children[last]
    start = np.mean([tree.head(c) for c in children], axis=0) if children else None
    if start is not None and np.linalg.norm(tree.tail(last) - start) > 0.5 * np.linalg.norm(start - tree.head(last)):
        inverse = np.linalg.inv(tree.bones[last].rest_matrix())
        out.append((start, JointSource(last, "head", tuple(float(v) for v in inverse[:3, :3] @ start + inverse[:3, 3]))))
    else:
        out.append((tree.tail(last), tree.tail_source(last)))
    return out


def _best_triple(pts: list[np.ndarray], ratio: float, last: int | None = None) -> tuple[int, int, int] | None:
    """Indices (i, j, k) of a limb's three joints: long segments in the given length ratio,
    nearly in line at rest (a straight or slightly bent limb). ``last`` fixes k."""
    best, choice = -np.inf, None
    n = len(pts)
    for i in range(n):
        for j in range(i + 1, n):
            for k in ([last] if last is not None else range(j + 1, n)):
                if k <= j:
                    continue
                a, b = pts[j] - pts[i], pts[k] - pts[j]
                la, lb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
                if la == 0 or lb == 0:
                    continue
                balance = max(0.0, 1 - 2 * abs(la - ratio * lb) / (la + ratio * lb))
                straight = 0.5 + 0.5 * float(a @ b) / (la * lb)
                # A limb segment is straight: points between its ends lie on it (twist bones do;
                # an ankle between knee and toe does not).
                bent = max(_off_line(pts, i, j), _off_line(pts, j, k))
                score = (la + lb) * balance ** 2 * straight * max(0.0, 1 - 4 * bent)
                if score > best:
                    best, choice = score, (i, j, k)
    return choice


def _off_line(pts: list[np.ndarray], i: int, j: int) -> float:
    """Largest distance of the points between i and j from the segment i-j, per its length."""
    a, b = pts[i], pts[j]
    span = float(np.linalg.norm(b - a))
    if j - i < 2 or span == 0:
        return 0.0
    axis = (b - a) / span
    return max(float(np.linalg.norm((p - a) - axis * float((p - a) @ axis))) for p in pts[i + 1:j]) / span


def _leg(tree: Tree, path: list[str]) -> _Limb:
    limb = _Limb(path, _points(tree, path))
    triple = _best_triple([p for p, _ in limb.cands], 1.0)
    if triple is not None:
        limb.joints = dict(zip(("hip", "knee", "ankle"), triple))
        if triple[2] + 1 < len(limb.cands):
            limb.joints["foot"] = triple[2] + 1
    return limb


def _arm(tree: Tree, path: list[str]) -> _Limb:
    limb = _Limb(path, _points(tree, path))
    # The wrist is the first bone that branches into fingers (two chains, or three bones: not a
    # limb and a helper bone beside it), else a short last bone (a hand without fingers) starts there.
    hand = next((x for x, name in enumerate(path) if len(tree.branches(name)) >= 3
                 or sum(bool(tree.children[c]) for c in tree.branches(name)) >= 2), None)
    if hand is None and len(path) >= 2 and tree.length[path[-1]] < 0.6 * tree.length[path[-2]]:
        hand = len(path) - 1
    triple = _best_triple([p for p, _ in limb.cands], ARM_RATIO, last=hand)
    if triple is None and hand == len(path) - 1:
        # Fingers hang from the forearm itself (BrainStem): the wrist is where it ends.
        triple = _best_triple([p for p, _ in limb.cands], ARM_RATIO, last=hand + 1)
    if triple is not None:
        i, j, k = triple
        limb.joints = {"shoulder": i, "elbow": j, "wrist": k}
        if i > 0:
            limb.joints["collar"] = i - 1
        if k + 1 < len(limb.cands):
            limb.joints["hand"] = k + 1
    return limb


def _match_short(limbs: list[_Limb], kind: str) -> None:
    """A chain much shorter than its partner is cut short (no forearm, no foot): its joints are
    the points at the partner's joint distances along the chain, as many as it reaches."""
    short, full = sorted(limbs, key=_Limb.length)
    if short.length() >= SHORT_SHARE * full.length() or not full.joints:
        return

    def along(limb: _Limb) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum([np.linalg.norm(b[0] - a[0]) for a, b in zip(limb.cands, limb.cands[1:])])])

    have, want = along(short), along(full)
    slack = 0.1 * full.length()
    short.joints, after = {}, -1
    for role, x in sorted(full.joints.items(), key=lambda item: item[1]):
        gap = np.abs(have - want[x])
        gap[: after + 1] = np.inf
        if gap.min() <= slack:
            after = int(np.argmin(gap))
            short.joints[role] = after
    short.how = f" (shorter than the other {kind}: joints at the other {kind}'s spacing)"


def _sides(tree: Tree, layout: Body, legs: list[_Limb], arms: list[_Limb], findings: list[str]) -> dict[str, list[str]]:
    """"L" or "R" for each leg and arm: the character's left is up x forwards, forwards where
    the feet point; without feet that point somewhere, armature +x is the left."""
    up = layout.up
    forward = _forwards(legs, up)
    if forward is not None:
        left = np.cross(up, forward)
    else:
        left = np.array([1.0, 0.0, 0.0]) - up[0] * up
        findings.append("no feet point forwards to tell left from right: the character's left is taken "
                        "to be armature +x; swap the sides by hand if that is wrong")
    out: dict[str, list[str]] = {}
    for kind, limbs, centre, first in (("leg", legs, layout.pelvis, "hip"), ("arm", arms, layout.chest, "shoulder")):
        spots = [limb.point(first) if first in limb.joints else limb.cands[0][0] for limb in limbs]
        if len(limbs) == 2:
            out[kind] = ["L", "R"] if float((spots[0] - spots[1]) @ left) > 0 else ["R", "L"]
        else:
            out[kind] = ["L" if float((spot - tree.head(centre)) @ left) > 0 else "R" for spot in spots]
    return out


def _forwards(legs: list[_Limb], up: np.ndarray) -> np.ndarray | None:
    """Where the feet point (from the ankle to the points past it), across the up axis; None
    when no foot points clearly or two feet disagree."""
    across = None
    hips = [leg.point("hip") for leg in legs if "hip" in leg.joints]
    if len(hips) == 2 and np.linalg.norm(hips[0] - hips[1]) > 0:
        across = (hips[0] - hips[1]) / np.linalg.norm(hips[0] - hips[1])
    feet = []
    for leg in legs:
        if "ankle" not in leg.joints or leg.joints["ankle"] + 1 >= len(leg.cands):
            continue
        ankle = leg.point("ankle")
        foot = np.mean([p for p, _ in leg.cands[leg.joints["ankle"] + 1:]], axis=0) - ankle
        flat = foot - (foot @ up) * up
        if across is not None:
            flat -= (flat @ across) * across
        if np.linalg.norm(flat) < FOOT_SHARE * np.linalg.norm(foot):
            return None
        feet.append(flat / np.linalg.norm(flat))
    if not feet or (len(feet) == 2 and float(feet[0] @ feet[1]) <= 0):
        return None
    forward = np.sum(feet, axis=0)
    return forward / np.linalg.norm(forward)


def _neck_and_head(tree: Tree, path: list[str], out: StructureMap) -> None:
    cands = _points(tree, path)
    neck = cands[0][0]
    top = tree.farthest(path[0], neck)  # the crown
    out.body[_I[("neck", "")]] = cands[0][1]
    out.guessed[_I[("neck", "")]] = f"where the head chain leaves the chest ('{path[0]}')"
    if top == 0:
        return
    if len(path) == 1:
        # The neck and the head are one bone: the head joint a third of the way up it.
        bone = tree.bones[path[0]]
        point = neck + HEAD_JOINT_SHARE * (cands[1][0] - neck)
        inverse = np.linalg.inv(bone.rest_matrix())
        out.body[_I[("head", "")]] = JointSource(bone.name, "head", tuple(float(v) for v in inverse[:3, :3] @ point
                                                                         + inverse[:3, 3]))
        out.guessed[_I[("head", "")]] = (f"the neck and head are one bone '{bone.name}': placed "
                                         f"{HEAD_JOINT_SHARE:.0%} of the way up it")
        return
    share = [abs(float(np.linalg.norm(p - neck)) / top - HEAD_JOINT_SHARE) for p, _ in cands[1:]]
    out.body[_I[("head", "")]] = cands[1 + int(np.argmin(share))][1]
    out.guessed[_I[("head", "")]] = f"about a third of the way from the neck to the crown along '{path[0]}' to '{path[-1]}'"


def _spine(tree: Tree, layout: Body, out: StructureMap) -> None:
    """spine1-3 at about a quarter, a half and three quarters of the way up to the neck."""
    pelvis, chest = layout.pelvis, layout.chest
    path = [n for n in reversed(tree.ancestors(chest)) if n not in tree.ancestors(pelvis)[1:]]
    path = path[path.index(pelvis) + 1:] if pelvis in path else path
    if not path:
        return
    low = tree.head(pelvis)
    neck = out.body.get(_I[("neck", "")])
    high = tree.head(neck.bone) if neck is not None else tree.tail(chest)
    span = float(np.linalg.norm(high - low))
    if span == 0:
        return
    cands = [(float(np.linalg.norm(tree.head(n) - low)) / span, JointSource(n)) for n in path]
    used = {s.bone for s in out.body.values()}
    for role, share in (("spine1", 0.25), ("spine2", 0.5), ("spine3", 0.75)):
        free = [(abs(s - share), src) for s, src in cands if src.bone not in used and 0 < s < 1]
        if free:
            source = min(free, key=lambda x: x[0])[1]
            out.body[_I[(role, "")]] = source
            out.guessed[_I[(role, "")]] = f"{share:.0%} of the way up the spine"
            used.add(source.bone)


def _hand(tree: Tree, wrist: JointSource, notes: list[str], side: str) -> list[JointSource | None]:
    """21 hand points when the wrist bone leads to four or five finger chains.

    A finger is a path from the wrist to a leaf; a first bone that starts at the wrist itself
    (a palm bone, as in Rigify) is not part of it."""
    points: list[JointSource | None] = [wrist] + [None] * 20
    wrist_head = tree.head(wrist.bone)
    paths = [p for p in _leaf_paths(tree, wrist.bone) if len(p) >= 3]
    if not paths:
        return [None] * 21

    def reach(name: str) -> float:
        return float(np.linalg.norm(tree.head(name) - wrist_head))

    # Palm bones: most fingers' first bones start well before where their second bones do (only
    # a thumb's first bone does that on a hand without palm bones).
    second = float(np.median([reach(p[1]) for p in paths]))
    palms = sum(reach(p[0]) < 0.6 * second for p in paths) >= 3
    chains = [(p[1:] if palms and len(p) >= 4 else p)[:4] for p in paths]
    if len(chains) > 5:
        chains = sorted(chains, key=lambda c: -_Limb(c, _points(tree, c)).length())[:5]
    if len(chains) < 4:
        return [None] * 21
    heads = np.array([tree.bones[c[0]].head for c in chains], dtype=np.float64)
    # The thumb starts farthest from the other fingers; the rest lie in a row, index nearest it.
    spread = [float(np.mean(np.linalg.norm(heads - h, axis=1))) for h in heads]
    thumb = int(np.argmax(spread)) if len(chains) == 5 else None
    others = [x for x in range(len(chains)) if x != thumb]
    if thumb is not None:
        others.sort(key=lambda x: float(np.linalg.norm(heads[x] - heads[thumb])))
    order = ([thumb] if thumb is not None else []) + others
    fingers = FINGERS if thumb is not None else FINGERS[1:]
    capped: dict[str, float] = {}
    for finger, x in zip(fingers, order):
        f = FINGERS.index(finger)
        pts = finger_points([tree.bones[n] for n in chains[x]], finger, capped)
        if pts is not None:
            points[1 + 4 * f: 5 + 4 * f] = pts
    if capped:
        notes.append(capped_note(side, capped))
    return points


def _leaf_paths(tree: Tree, top: str) -> list[list[str]]:
    """Every path from a child of ``top`` down to a leaf."""
    out = []
    stack = [[c] for c in tree.children[top]]
    while stack:
        path = stack.pop()
        children = tree.children[path[-1]]
        if not children:
            out.append(path)
        stack.extend(path + [c] for c in children)
    return out
