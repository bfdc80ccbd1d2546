"""A rig's bones looked up by meaning: side and canonical base name, whatever the convention.

The name-based mapping, the hand and face placement all ask the same questions of one rig ("the
left forearm?", "where is this joint at rest?"), so the index is built once per mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .bones import BoneInfo, JointSource
from .names import LAYER_RANK, parse_name


class NameIndex:
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


def resolve(index: NameIndex, specs: Iterable[str], side: str) -> JointSource | None:
    for spec in specs:
        source = index.find(spec, side)
        if source is not None:
            return source
    return None


def rest_point(index: NameIndex, source: JointSource) -> np.ndarray:
    bone = index.bones[source.bone]
    matrix = bone.rest_matrix()
    return matrix[:3, :3] @ source.local_point(bone.length) + matrix[:3, 3]
