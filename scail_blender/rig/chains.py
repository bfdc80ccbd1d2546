"""Find a humanoid's limb chains in a bone tree, whatever else the tree holds.

A body is two legs meeting at the pelvis, two arms meeting at the chest above it and a head
chain going on up from the chest. Rigs add and drop parts: twist and helper bones along a limb,
IK targets and poles (extra roots, or IK bones on the hands and feet under the root), a head chain
too short to count as a limb (Khronos' CesiumMan: a neck and a head bone of 6 and 5 cm), an arm
or a leg that is not there. So every way of reading the limb ends as legs, arms and a head is
tried, and the reading that fits the most of them into a body wins; ends no reading uses (IK
chains, poles, props) are left out, and limbs no reading finds are reported missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from .tree import Tree

# Limb ends inside a subtree smaller than this share of the rig (a head's face bones) are one end.
SMALL_SHARE = 0.2
# Sibling limb ends starting this close together (share of the rig's size) are one end (fingers).
FAN_SHARE = 0.05
# The head goes up from the chest: at most about 60 degrees off the pelvis-to-chest line.
HEAD_COS = 0.5
# A head chain too short to be a limb still rises at least this share of the rig above the chest.
HEAD_SHARE = 0.02
# An arm reaches out to the side: its sideways part is at least this share of it.
REACH_SHARE = 0.3
# Two arms point to opposite sides: their sideways parts at least this far from parallel.
ARMS_COS = -0.3


@dataclass
class Body:
    """Where a reading of the tree puts the body: chains of bone names, top first."""

    pelvis: str
    chest: str
    up: np.ndarray  # unit vector from the pelvis to the chest
    legs: list[list[str]]
    arms: list[list[str]]
    head: list[str]  # empty when the rig has no bone above the chest
    notes: list[str] = field(default_factory=list)  # what was left out, by name


def find_body(tree: Tree) -> tuple[Body | None, str]:
    """The reading of the tree's limb ends that fits the most limbs into a body, or None with
    the reason none fits."""
    if tree.size <= 0:
        return None, "the bones have no size"
    ends = limb_ends(tree)
    best: tuple[tuple, Body] | None = None
    for legs in [*combinations(ends, 2), *((e,) for e in ends)]:
        if len(legs) == 2 and meet(tree, *legs) in legs:
            continue  # one leg inside the other
        rest = [e for e in ends if e not in legs]
        for arms in [*combinations(rest, 2), *((e,) for e in rest)]:
            if best is not None and len(legs) + len(arms) + 1 < best[0][0] or \
                    len(arms) == 2 and meet(tree, *arms) in arms:
                continue  # cannot place as many limbs as the best reading, or one arm inside the other
            for head in [None, *(e for e in rest if e not in arms)]:
                reading = _read(tree, legs, arms, head)
                if reading is not None and (best is None or reading[0] > best[0]):
                    best = reading
    if best is None:
        return None, (f"found {len(ends)} limb ends ({', '.join(repr(e) for e in ends) or 'none'}) and no way "
                      "to read them as legs below a pelvis and arms and a head above it")
    body = best[1]
    unused = [e for e in ends if not any(e in chain for chain in body.legs + body.arms + [body.head])]
    if unused:
        body.notes.append("left out as no part of the body (IK targets, poles, props): "
                          + ", ".join(f"'{e}'" for e in unused))
    if tree.ignored:
        body.notes.append("left out, not joined to the body: " + ", ".join(f"'{n}'" for n in tree.ignored))
    return body, ""


def limb_ends(tree: Tree) -> list[str]:
    """Bones where a limb chain ends: reached through limb children, with none of their own.

    Ends that share a small subtree (the face bones of a head, the fingers of a hand), or that
    fan out from one bone side by side (finger leaves an importer made as long as the forearm
    they hang from), are one end: the bone where they meet."""
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
            top = meet(tree, a, b)
            side_by_side = tree.parent[a] == tree.parent[b] == top and \
                float(np.linalg.norm(tree.head(a) - tree.head(b))) < FAN_SHARE * tree.size
            if side_by_side or max(_reach_from(tree, top, a), _reach_from(tree, top, b)) < small:
                ends = [e for e in ends if top not in tree.ancestors(e)] + [top]
                merged = True
                break
    return [e for e in ends if not any(e != o and e in tree.ancestors(o) for o in ends)]


def meet(tree: Tree, a: str, b: str) -> str:
    """The deepest bone above both (each bone counts as above itself; the tree is joined)."""
    key = ("meet", a, b)
    if key not in tree.cache:
        above = set(tree.ancestors(b))
        tree.cache[key] = next(n for n in tree.ancestors(a) if n in above)
    return tree.cache[key]


def path_below(tree: Tree, top: str | None, end: str) -> list[str]:
    """Bones from just below ``top`` down to ``end``, then on along the main chain past it."""
    key = ("path", top, end)
    if key not in tree.cache:
        tree.cache[key] = _path_below(tree, top, end)
    return list(tree.cache[key])


def _path_below(tree: Tree, top: str | None, end: str) -> list[str]:
    path = []
    for name in tree.ancestors(end):
        if name == top:
            break
        path.append(name)
    path.reverse()
    current = end
    # On past the end (feet to toes past a heel bone) but not into a hand's or a head's branches.
    while (child := tree.main_child(current)) is not None and len(tree.branches(current)) <= 2:
        path.append(child)
        current = child
    return path


def _reach_from(tree: Tree, top: str, end: str) -> float:
    """How far ``end``'s subtree reaches from ``top``'s head (an upper bound)."""
    return float(np.linalg.norm(tree.head(end) - tree.head(top))) + tree.reach[end]


def _branch_above(tree: Tree, end: str) -> str | None:
    """The nearest bone above ``end`` where the body branches (a lone arm's chest)."""
    for name in tree.ancestors(end)[1:]:
        if len(tree.branches(name)) >= 2:
            return name
    return None


def _read(tree: Tree, legs: tuple[str, ...], arms: tuple[str, ...], head_end: str | None
          ) -> tuple[tuple, Body] | None:
    """These ends as legs, arms and head, or None when they do not form a body. Scored by the
    limbs placed, then how deep the arms meet, then how deep the legs do (IK bones under the root
    meet at the root), then how alike the two sides are, then how long the limbs are (a prop is
    shorter than an arm)."""
    if len(arms) == 2:
        chest = meet(tree, *arms)
    elif head_end is not None:
        chest = meet(tree, arms[0], head_end)
    else:
        chest = _branch_above(tree, arms[0])
    if chest is None or chest in arms or chest == head_end:
        return None
    pelvis = meet(tree, *legs) if len(legs) == 2 else meet(tree, legs[0], chest)
    below_pelvis = set(tree.ancestors(pelvis))
    if pelvis in legs or pelvis == chest or chest in below_pelvis:
        return None
    if any(meet(tree, leg, chest) not in below_pelvis for leg in legs):
        return None  # the chest would sit inside a leg
    up = tree.head(chest) - tree.head(pelvis)
    if np.linalg.norm(up) == 0:
        return None
    up = up / np.linalg.norm(up)
    leg_chains = [path_below(tree, pelvis, leg) for leg in legs]
    if any(len(chain) < 2 for chain in leg_chains):
        return None  # a leg of one bone
    if head_end is not None:
        head_chain = path_below(tree, _top(tree, head_end, arms, chest), head_end)
    else:
        key = ("head", chest, frozenset(legs + arms), up.tobytes())
        if key not in tree.cache:
            tree.cache[key] = _find_head(tree, chest, legs + arms, up)
        head_chain = list(tree.cache[key])
    if head_chain and not _goes_up(tree, head_chain, chest, up):
        return None
    others = list(arms) + ([head_chain[0]] if head_chain else [])
    arm_chains = []
    for arm in arms:
        arm_chains.append(path_below(tree, _top(tree, arm, [o for o in others if o != arm], chest), arm))
        if len(arm_chains[-1]) < 2:
            return None
    if not _reach_out(tree, arms, leg_chains, chest, up):
        return None
    symmetry = sum(_mismatch(tree, chains) for chains in (leg_chains, arm_chains) if len(chains) == 2)
    reach = sum(tree.step(n) for chain in leg_chains + arm_chains for n in chain[1:])
    score = (len(legs) + len(arms) + bool(head_chain), len(tree.ancestors(chest)), len(below_pelvis), -symmetry, reach)
    return score, Body(pelvis, chest, up, leg_chains, arm_chains, head_chain)


def _top(tree: Tree, end: str, others: Sequence[str], chest: str) -> str:
    """Where ``end``'s chain leaves the rest of the upper body: the deepest bone it shares with
    another upper chain (the chest, or a spine bone above it when the arms fork from two)."""
    meets = [meet(tree, end, o) for o in others] or [chest]
    return max(meets, key=lambda n: len(tree.ancestors(n)))


def _find_head(tree: Tree, chest: str, limb_ends_: Sequence[str], up: np.ndarray) -> list[str]:
    """A head chain too short to be a limb: the branch off the chest (or off an arm's way out of
    it) that reaches highest above the chest."""
    on_limbs = {n for end in limb_ends_ for n in tree.ancestors(end)}
    starts = [chest] + [n for n in on_limbs if chest in tree.ancestors(n)[1:] and len(tree.branches(n)) >= 2]
    origin = tree.head(chest)
    best, chain = 0.0, []
    for start in starts:
        for child in tree.children[start]:
            if child in on_limbs:
                continue
            height = max(float((p - origin) @ up) for bone in tree.subtree(child) for p in (tree.head(bone), tree.tail(bone)))
            if height > best:
                best, chain = height, path_below(tree, start, child)
    return chain if best >= HEAD_SHARE * tree.size else []


def _goes_up(tree: Tree, chain: list[str], chest: str, up: np.ndarray) -> bool:
    """The chain's farthest point from the chest lies above it (an arm's lies to the side)."""
    origin = tree.head(chest)
    points = [p - origin for bone in chain for p in (tree.head(bone), tree.tail(bone))]
    far = max(points, key=lambda p: float(np.linalg.norm(p)))
    return float(np.linalg.norm(far)) > 0 and float(far @ up) >= HEAD_COS * float(np.linalg.norm(far))


def _reach_out(tree: Tree, arms: Sequence[str], legs: list[list[str]], chest: str, up: np.ndarray) -> bool:
    """Arms reach out to the sides (along the line between the legs, when there are two), two
    arms to opposite sides: a cape or a tail down the back is no arm."""
    across = None
    if len(legs) == 2:
        gap = np.mean([tree.head(n) for n in legs[0]], axis=0) - np.mean([tree.head(n) for n in legs[1]], axis=0)
        gap -= (gap @ up) * up
        across = gap / np.linalg.norm(gap) if np.linalg.norm(gap) > 0 else None
    sides = []
    for arm in arms:
        v = tree.head(arm) - tree.head(chest)
        side = v - (v @ up) * up
        if across is not None:
            side = (side @ across) * across
        if np.linalg.norm(side) == 0 or np.linalg.norm(side) < REACH_SHARE * np.linalg.norm(v):
            return False
        sides.append(side / np.linalg.norm(side))
    return len(sides) < 2 or float(sides[0] @ sides[1]) <= ARMS_COS


def _mismatch(tree: Tree, chains: list[list[str]]) -> float:
    lengths = [sum(tree.step(n) for n in chain[1:]) for chain in chains]
    return abs(lengths[0] - lengths[1]) / max(max(lengths), 1e-12)
