"""Map a humanoid rig by its structure alone: no bone names, only the tree and the rest pose.

Exporters and rig tools often leave names that say nothing (``Bone.001``, ``joint17``). The
tree still says which bones form a body: five long chains end in the two hands, the two feet
and the head; the three that meet deepest are the arms and the neck (the chest), the other two
are the legs, and where the legs meet is the pelvis. Along each chain the joints are the bone
heads whose spacing looks like a human limb (thigh as long as the shank, upper arm a little
longer than the forearm, the head joint about a third of the way from the neck to the crown).
Sides come from x in armature space (the character's left is +x in Blender, FBX and glTF rigs).
The result is a guess and is always reported as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from .bones import BoneInfo, JointSource
from .fingers import capped_note, finger_points
from .presets import FINGERS, SMPL_ROLES

_I = {role_side: i for i, role_side in enumerate(SMPL_ROLES)}
# A chain counts as a limb when it reaches at least this share of the rig's size.
LIMB_SHARE = 0.12
# Limb ends inside a subtree smaller than this share of the rig (a head's face bones) are one end.
SMALL_SHARE = 0.2
# SMPL's head joint sits about this share of the way from the neck joint to the crown.
HEAD_JOINT_SHARE = 0.35
# Upper arm / forearm length in SMPL's rest skeleton.
ARM_RATIO = 1.2


@dataclass
class StructureMap:
    """Sources found by structure (SMPL index -> source), hand points per side, and notes."""

    body: dict[int, JointSource]
    hands: dict[str, list[JointSource | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _Tree:
    """The bones to map (deform bones when the rig marks some) with parents re-linked past the rest."""

    def __init__(self, bones: Sequence[BoneInfo]) -> None:
        deform = [b for b in bones if b.use_deform]
        use = deform if len(deform) >= 10 else list(bones)
        kept = {b.name for b in use}
        every = {b.name: b for b in bones}
        self.bones = {b.name: b for b in use}
        self.parent: dict[str, str | None] = {}
        for bone in use:
            parent = bone.parent
            while parent is not None and parent not in kept:
                parent = every[parent].parent if parent in every else None
            self.parent[bone.name] = parent
        self._join_separate_trees()
        self.children: dict[str, list[str]] = {n: [] for n in self.bones}
        for name, parent in self.parent.items():
            if parent is not None:
                self.children[parent].append(name)
        self.length = {n: self._trusted_length(n) for n in self.bones}
        self.reach: dict[str, float] = {}
        for name in reversed(self._order()):
            self.reach[name] = self._reach(name)
        points = np.array([p for n in self.bones for p in (self.bones[n].head, self.tail(n))], dtype=np.float64)
        self.size = float(np.max(points.max(0) - points.min(0))) if len(points) else 0.0

    def _join_separate_trees(self) -> None:
        """Deform bones whose parents are controls (Rigify's DEF chains) fall into separate
        trees once the controls are skipped; each smaller tree hangs from the bone of the
        others whose head or tail its root touches (the nearest), as the skin sees them joined."""
        def root_of(name: str) -> str:
            while self.parent[name] is not None:
                name = self.parent[name]
            return name

        while True:
            roots: dict[str, list[str]] = {}
            for name in self.bones:
                roots.setdefault(root_of(name), []).append(name)
            if len(roots) < 2:
                return
            main = max(roots, key=lambda r: len(roots[r]))
            root = min((r for r in roots if r != main), key=lambda r: -len(roots[r]))
            head = np.asarray(self.bones[root].head, dtype=np.float64)
            others = [n for r, names in roots.items() if r != root for n in names]
            self.parent[root] = min(others, key=lambda n: min(
                float(np.linalg.norm(np.subtract(self.bones[n].head, head))),
                float(np.linalg.norm(np.subtract(self.bones[n].tail, head)))))

    def _trusted_length(self, name: str) -> float:
        """The bone's length, capped at 3x the step from its parent's head to its own (a root's: to
        its farthest child's): importers
        (glTF at object scale 0.01) make bones up to 100x too long, and only heads are data."""
        bone = self.bones[name]
        parent = self.parent[name]
        if parent is not None:
            step = float(np.linalg.norm(np.subtract(bone.head, self.bones[parent].head)))
        else:  # a root: by the steps to its children instead
            step = max((float(np.linalg.norm(np.subtract(self.bones[c].head, bone.head))) for c in self.children[name]),
                       default=0.0)
        return min(bone.length, 3.0 * step) if step > 0 else bone.length

    def tail(self, name: str) -> np.ndarray:
        bone = self.bones[name]
        head = np.asarray(bone.head, dtype=np.float64)
        if bone.length == 0:
            return head
        return head + np.subtract(bone.tail, bone.head) * (self.length[name] / bone.length)

    def tail_source(self, name: str) -> JointSource:
        """The (trusted) tail as a point fixed in the bone."""
        if self.length[name] < self.bones[name].length:
            return JointSource(name, "head", (0.0, self.length[name], 0.0))
        return JointSource(name, "tail")

    def _order(self) -> list[str]:
        """Parents before children."""
        out = [n for n, p in self.parent.items() if p is None]
        for name in out:
            out.extend(self.children[name])
        return out

    def _reach(self, name: str) -> float:
        """Farthest subtree point from the bone's head (children's reaches are known)."""
        bone = self.bones[name]
        head = np.asarray(bone.head)
        best = self.length[name]
        for child in self.children[name]:
            offset = float(np.linalg.norm(np.subtract(self.bones[child].head, head)))
            best = max(best, offset + self.reach[child])
        return best

    def limb_children(self, name: str) -> list[str]:
        return [c for c in self.children[name] if self.reach[c] >= LIMB_SHARE * self.size]

    def ancestors(self, name: str) -> list[str]:
        """``name`` and its ancestors, nearest first."""
        out = [name]
        while (parent := self.parent[out[-1]]) is not None:
            out.append(parent)
        return out

    def main_child(self, name: str) -> str | None:
        """The child that carries the chain on: the one reaching farthest from this bone's head
        (a foot rather than a heel bone beside it)."""
        children = self.children[name]
        head = np.asarray(self.bones[name].head)
        return max(children, key=lambda c: float(np.linalg.norm(np.subtract(self.bones[c].head, head)))
                   + self.reach[c]) if children else None

    def farthest(self, name: str, origin: np.ndarray) -> float:
        """The farthest (trusted) point of ``name``'s subtree from ``origin``."""
        best = 0.0
        stack = [name]
        while stack:
            bone = stack.pop()
            for point in (self.bones[bone].head, self.tail(bone)):
                best = max(best, float(np.linalg.norm(np.subtract(point, origin))))
            stack.extend(self.children[bone])
        return best


def map_by_structure(bones: Sequence[BoneInfo]) -> StructureMap | None:
    """The SMPL body joints (and hands where fingers are found) of a humanoid, or None when the
    tree does not look like one (the notes then say why, through ``explain_structure``)."""
    return _map(_Tree(bones))[0]


def explain_structure(bones: Sequence[BoneInfo]) -> str:
    """Why ``map_by_structure`` found no humanoid (empty when it did)."""
    return _map(_Tree(bones))[1]


def _map(tree: _Tree) -> tuple[StructureMap | None, str]:
    if tree.size <= 0:
        return None, "the bones have no size"
    ends = _limb_ends(tree)
    if len(ends) != 5:
        return None, (f"found {len(ends)} limb ends where a humanoid has 5 (two hands, two feet, the head): "
                      + ", ".join(f"'{e}'" for e in ends))
    # The arms and the neck meet deepest: at the chest.
    triples = []
    for trio in combinations(ends, 3):
        meets = {_meet(tree, a, b) for a, b in combinations(trio, 2)}
        if len(meets) == 1:
            chest = meets.pop()
            triples.append((len(tree.ancestors(chest)), trio, chest))
    if not triples:
        return None, "no three limb chains meet at one bone (the chest: two arms and the neck)"
    _, upper, chest = max(triples)
    legs = [e for e in ends if e not in upper]
    pelvis = _meet(tree, *legs)
    if chest not in tree.ancestors(upper[0]) or pelvis == chest or chest in tree.ancestors(pelvis):
        return None, "the legs do not hang below the chest in the bone tree"
    chain: dict[str, list[str]] = {}
    for end in upper:
        chain[end] = _path_below(tree, chest, end)
    for end in legs:
        chain[end] = _path_below(tree, pelvis, end)
    lengths = {e: _chain_length(tree, chain[e]) for e in upper}
    arms = min(combinations(upper, 2), key=lambda pair: abs(lengths[pair[0]] - lengths[pair[1]]))
    head_end = next(e for e in upper if e not in arms)

    body: dict[int, JointSource] = {_I[("pelvis", "")]: JointSource(pelvis)}
    notes: list[str] = []
    pelvis_head = np.asarray(tree.bones[pelvis].head)
    for end in legs:
        side = _side(tree, chain[end], pelvis_head)
        _leg(tree, chain[end], side, body)
    for end in arms:
        side = _side(tree, chain[end], pelvis_head)
        _arm(tree, chain[end], side, body)
    if {_side(tree, chain[e], pelvis_head) for e in legs} != {"L", "R"} or \
            {_side(tree, chain[e], pelvis_head) for e in arms} != {"L", "R"}:
        return None, "the two arms (or legs) are on the same side of the body"
    _neck_and_head(tree, chain[head_end], body)
    _spine(tree, pelvis, chest, body)
    hands = {}
    for end in arms:
        side = "left" if _side(tree, chain[end], pelvis_head) == "L" else "right"
        wrist = body[_I[("wrist", side[0].upper())]]
        hands[side] = _hand(tree, wrist, notes, side)
    return StructureMap(body, hands, notes), ""


def _limb_ends(tree: _Tree) -> list[str]:
    """Bones where a limb chain ends: reached through limb children, with none of their own.

    Ends that share a small subtree (the face bones of a head, the fingers of a hand) are one
    end: the bone where they meet."""
    ends = []
    stack = [n for n, p in tree.parent.items() if p is None]
    while stack:
        name = stack.pop()
        limbs = tree.limb_children(name)
        if not limbs:
            if tree.parent[name] is not None:
                ends.append(name)
            continue
        stack.extend(limbs)
    small = SMALL_SHARE * tree.size
    merged = True
    while merged:
        merged = False
        for a, b in combinations(ends, 2):
            top = _meet(tree, a, b)
            if max(_reach_from(tree, top, a), _reach_from(tree, top, b)) < small:
                ends = [e for e in ends if e not in (a, b)] + [top]
                merged = True
                break
    return [e for e in ends if not any(e != o and e in tree.ancestors(o) for o in ends)]


def _meet(tree: _Tree, a: str, b: str) -> str:
    """The deepest bone above both (each bone counts as above itself; the tree is joined)."""
    above = set(tree.ancestors(b))
    return next(n for n in tree.ancestors(a) if n in above)


def _reach_from(tree: _Tree, top: str, end: str) -> float:
    """How far ``end``'s subtree reaches from ``top``'s head (an upper bound)."""
    step = float(np.linalg.norm(np.subtract(tree.bones[end].head, tree.bones[top].head)))
    return step + tree.reach[end]


def _path_below(tree: _Tree, top: str | None, end: str) -> list[str]:
    """Bones from just below ``top`` down to ``end``, then on along the main chain past it."""
    path = []
    for name in tree.ancestors(end):
        if name == top:
            break
        path.append(name)
    path.reverse()
    current = end
    # On past the end (feet to toes past a heel bone) but not into a hand's or a head's branches.
    while (child := tree.main_child(current)) is not None and len(tree.children[current]) <= 2:
        path.append(child)
        current = child
    return path


def _points(tree: _Tree, path: list[str]) -> list[tuple[np.ndarray, JointSource]]:
    """Joint candidates along a chain: each bone's head, then the last bone's tail."""
    out = [(np.asarray(tree.bones[n].head, dtype=np.float64), JointSource(n)) for n in path]
    out.append((tree.tail(path[-1]), tree.tail_source(path[-1])))
    return out


def _chain_length(tree: _Tree, path: list[str]) -> float:
    pts = [p for p, _ in _points(tree, path)]
    return float(sum(np.linalg.norm(b - a) for a, b in zip(pts, pts[1:])))


def _side(tree: _Tree, path: list[str], centre: np.ndarray) -> str:
    pts = np.array([p for p, _ in _points(tree, path)])
    return "L" if float(np.mean(pts[:, 0]) - centre[0]) > 0 else "R"


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


def _leg(tree: _Tree, path: list[str], side: str, body: dict[int, JointSource]) -> None:
    cands = _points(tree, path)
    triple = _best_triple([p for p, _ in cands], 1.0)
    if triple is None:
        return
    i, j, k = triple
    body[_I[("hip", side)]], body[_I[("knee", side)]], body[_I[("ankle", side)]] = (cands[x][1] for x in triple)
    if k + 1 < len(cands):
        body[_I[("foot", side)]] = cands[k + 1][1]


def _arm(tree: _Tree, path: list[str], side: str, body: dict[int, JointSource]) -> None:
    cands = _points(tree, path)
    # The wrist is the first bone that branches into fingers, else a short last bone (a hand
    # without fingers) starts there.
    hand = next((x for x, name in enumerate(path) if len(tree.children[name]) >= 2), None)
    if hand is None and len(path) >= 2 and tree.length[path[-1]] < 0.6 * tree.length[path[-2]]:
        hand = len(path) - 1
    triple = _best_triple([p for p, _ in cands], ARM_RATIO, last=hand)
    if triple is None:
        return
    i, j, k = triple
    body[_I[("shoulder", side)]], body[_I[("elbow", side)]], body[_I[("wrist", side)]] = (cands[x][1] for x in triple)
    if i > 0:
        body[_I[("collar", side)]] = cands[i - 1][1]
    if k + 1 < len(cands):
        body[_I[("hand", side)]] = cands[k + 1][1]


def _neck_and_head(tree: _Tree, path: list[str], body: dict[int, JointSource]) -> None:
    cands = _points(tree, path)
    neck = cands[0][0]
    top = tree.farthest(path[0], neck)  # the crown
    body[_I[("neck", "")]] = cands[0][1]
    if top == 0 or len(cands) < 2:
        return
    share = [abs(float(np.linalg.norm(p - neck)) / top - HEAD_JOINT_SHARE) for p, _ in cands[1:]]
    body[_I[("head", "")]] = cands[1 + int(np.argmin(share))][1]


def _spine(tree: _Tree, pelvis: str, chest: str, body: dict[int, JointSource]) -> None:
    """spine1-3 at about a quarter, a half and three quarters of the way up to the neck."""
    path = [n for n in reversed(tree.ancestors(chest)) if n not in tree.ancestors(pelvis)[1:]]
    path = path[path.index(pelvis) + 1:] if pelvis in path else path
    if not path:
        return
    low = np.asarray(tree.bones[pelvis].head, dtype=np.float64)
    neck = body[_I[("neck", "")]]
    high = np.asarray(tree.bones[neck.bone].head, dtype=np.float64)
    span = float(np.linalg.norm(high - low))
    if span == 0:
        return
    cands = [(float(np.linalg.norm(np.asarray(tree.bones[n].head) - low)) / span, JointSource(n)) for n in path]
    used = {s.bone for s in body.values()}
    for role, share in (("spine1", 0.25), ("spine2", 0.5), ("spine3", 0.75)):
        free = [(abs(s - share), src) for s, src in cands if src.bone not in used and 0 < s < 1]
        if free:
            source = min(free, key=lambda x: x[0])[1]
            body[_I[(role, "")]] = source
            used.add(source.bone)


def _hand(tree: _Tree, wrist: JointSource, notes: list[str], side: str) -> list[JointSource | None]:
    """21 hand points when the wrist bone leads to four or five finger chains.

    A finger is a path from the wrist to a leaf; a first bone that starts at the wrist itself
    (a palm bone, as in Rigify) is not part of it."""
    points: list[JointSource | None] = [wrist] + [None] * 20
    wrist_head = np.asarray(tree.bones[wrist.bone].head, dtype=np.float64)
    paths = [p for p in _leaf_paths(tree, wrist.bone) if len(p) >= 3]
    if not paths:
        return [None] * 21

    def reach(name: str) -> float:
        return float(np.linalg.norm(np.subtract(tree.bones[name].head, wrist_head)))

    # Palm bones: most fingers' first bones start well before where their second bones do (only
    # a thumb's first bone does that on a hand without palm bones).
    second = float(np.median([reach(p[1]) for p in paths]))
    palms = sum(reach(p[0]) < 0.6 * second for p in paths) >= 3
    chains = [(p[1:] if palms and len(p) >= 4 else p)[:4] for p in paths]
    if len(chains) > 5:
        chains = sorted(chains, key=lambda c: -_chain_length(tree, c))[:5]
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


def _leaf_paths(tree: _Tree, top: str) -> list[list[str]]:
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
