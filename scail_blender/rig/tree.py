"""The bone tree the structure mapper reads: deform bones, joined where they touch, with
lengths the importer cannot spoil.

Rigs mark their skin's bones as deform bones and hang them from controls; importers give leaf
bones lengths of their own choosing. So the tree keeps the deform bones (when there are enough),
re-links each to its nearest kept ancestor, joins separate deform trees that touch the body,
leaves out the bones that stand apart (IK targets, poles) and caps every length by the step
from its parent, since only heads are data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bones import BoneInfo, JointSource

# A chain counts as a limb when it reaches at least this share of the rig's size.
LIMB_SHARE = 0.12
# A separate bone tree is part of the body when its root starts this close (share of the rig's
# size) to a bone of the body; farther ones (IK poles in front of the knees) are not.
JOIN_SHARE = 0.1


class Tree:
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
        self.ignored = self._join_separate_trees()
        self.children: dict[str, list[str]] = {n: [] for n in self.bones}
        for name, parent in self.parent.items():
            if parent is not None:
                self.children[parent].append(name)
        self._ancestors: dict[str, list[str]] = {}
        self._heads = {n: _frozen(b.head) for n, b in self.bones.items()}
        self._steps = {n: 0.0 if p is None else float(np.linalg.norm(self._heads[n] - self._heads[p]))
                       for n, p in self.parent.items()}
        self.length = {n: self._trusted_length(n) for n in self.bones}
        self._tails = {n: self._trusted_tail(n) for n in self.bones}
        # Results the mappers derive from the tree, kept by what they were asked (readings share them).
        self.cache: dict[tuple, object] = {}
        self.reach: dict[str, float] = {}
        for name in reversed(self._order()):
            self.reach[name] = self._reach(name)
        points = np.array([p for n in self.bones for p in (self.bones[n].head, self.tail(n))], dtype=np.float64)
        self.size = float(np.max(points.max(0) - points.min(0))) if len(points) else 0.0
        self.side_leaves = {n for n in self.bones if self._is_side_leaf(n)}

    def _join_separate_trees(self) -> list[str]:
        """Deform bones whose parents are controls (Rigify's DEF chains) fall into separate
        trees once the controls are skipped; a smaller tree of two or more bones whose root
        touches a bone of the body hangs from the nearest one, as the skin sees them joined.
        Single bones and trees away from the body (IK targets, poles) are left out: returned."""
        heads = np.array([b.head for b in self.bones.values()], dtype=np.float64)
        reach = JOIN_SHARE * float(np.max(np.ptp(heads, axis=0))) if len(heads) else 0.0

        def root_of(name: str) -> str:
            while self.parent[name] is not None:
                name = self.parent[name]
            return name

        groups: dict[str, list[str]] = {}
        for name in self.bones:
            groups.setdefault(root_of(name), []).append(name)
        main = max(groups, key=lambda r: len(groups[r]), default=None)
        body = list(groups.pop(main, []))
        joined = True
        while joined:
            joined = False
            for root in sorted(groups, key=lambda r: -len(groups[r])):
                head = np.asarray(self.bones[root].head, dtype=np.float64)
                near, gap = min(((n, min(float(np.linalg.norm(np.subtract(self.bones[n].head, head))),
                                         float(np.linalg.norm(np.subtract(self.bones[n].tail, head)))))
                                 for n in body), key=lambda x: x[1])
                if len(groups[root]) >= 2 and gap <= reach:
                    self.parent[root] = near
                    body += groups.pop(root)
                    joined = True
                    break
        left_out = [n for names in groups.values() for n in names]
        for name in left_out:
            del self.bones[name], self.parent[name]
        return left_out

    def _trusted_length(self, name: str) -> float:
        """The bone's length, capped at 3x the step from its parent's head to its own (a root's: to
        its farthest child's): importers (glTF at object scale 0.01) make bones up to 100x too
        long, and only heads are data."""
        bone = self.bones[name]
        parent = self.parent[name]
        if parent is not None:
            step = self.step(name)
        else:  # a root: by the steps to its children instead
            step = max((self.step(c) for c in self.children[name]), default=0.0)
        return min(bone.length, 3.0 * step) if step > 0 else bone.length

    def step(self, name: str) -> float:
        """Distance from the parent's head to this bone's head (0 for a root)."""
        return self._steps[name]

    def head(self, name: str) -> np.ndarray:
        return self._heads[name]

    def tail(self, name: str) -> np.ndarray:
        """The tail at the trusted length."""
        return self._tails[name]

    def _trusted_tail(self, name: str) -> np.ndarray:
        bone = self.bones[name]
        if bone.length == 0:
            return self._heads[name]
        return _frozen(self._heads[name] + np.subtract(bone.tail, bone.head) * (self.length[name] / bone.length))

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
        best = self.length[name]
        for child in self.children[name]:
            best = max(best, self.step(child) + self.reach[child])
        return best

    def _is_side_leaf(self, name: str) -> bool:
        """A bone without children that starts part way along its parent, before a sibling does:
        a twist or helper bone beside the limb, a heel beside the toes, an eye beside the crown."""
        parent = self.parent[name]
        if parent is None or self.children[name]:
            return False
        farthest = max(self.step(s) for s in self.children[parent])
        return self.step(name) < 0.9 * farthest

    def branches(self, name: str) -> list[str]:
        """Children that carry the body on (side leaves left out)."""
        return [c for c in self.children[name] if c not in self.side_leaves]

    def limb_children(self, name: str) -> list[str]:
        """Branches reaching far enough to be limbs (a side leaf never is, however long an
        importer made it: Blender's glTF importer gives a leaf its parent's length)."""
        return [c for c in self.branches(name) if self.reach[c] >= LIMB_SHARE * self.size]

    def ancestors(self, name: str) -> list[str]:
        """``name`` and its ancestors, nearest first."""
        if name not in self._ancestors:
            parent = self.parent[name]
            self._ancestors[name] = [name] + (self.ancestors(parent) if parent is not None else [])
        return self._ancestors[name]

    def main_child(self, name: str) -> str | None:
        """The child that carries the chain on: the one reaching farthest from this bone's head
        (a foot rather than a heel bone beside it)."""
        children = self.branches(name) or self.children[name]
        return max(children, key=lambda c: self.step(c) + self.reach[c]) if children else None

    def subtree(self, name: str) -> list[str]:
        out = [name]
        for bone in out:
            out.extend(self.children[bone])
        return out

    def farthest(self, name: str, origin: np.ndarray) -> float:
        """The farthest (trusted) point of ``name``'s subtree from ``origin``."""
        return max(float(np.linalg.norm(p - origin)) for bone in self.subtree(name)
                   for p in (self.head(bone), self.tail(bone)))


def _frozen(point) -> np.ndarray:
    out = np.array(point, dtype=np.float64)
    out.setflags(write=False)
    return out
