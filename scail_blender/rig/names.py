"""Bone-name canonicalisation shared by every rig convention.

Rigs spell the same bone a dozen ways (``mixamorig:LeftForeArm``, ``DEF-forearm.L``,
``lowerarm_l``, ``J_Bip_L_LowerArm``). Reducing each name to (layer, side, base) lets one
preset table per convention match all its spellings, and lets a Rigify rig prefer its
deformation bones over the controls that share their names.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Rigify prefixes, best first: deformation bones follow the mesh exactly, ORG bones follow the
# original skeleton, plain names are controls (some sit far from the body, like eye targets),
# MCH bones are mechanism helpers.
LAYER_RANK = {"def": 0, "org": 1, "": 2, "mch": 3}

_TOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SIDES = {"l": "L", "left": "L", "r": "R", "right": "R"}
# Leading tokens that name a tool or convention, not a body part.
_PREFIXES = (("j", "bip", "c"), ("j", "bip"), ("j", "adj", "c"), ("j", "adj"), ("bip", "1"), ("bip",),
             ("cc", "base"), ("mixamorig",), ("mixamorig", "1"), ("c",))
# Unity/VRM humanoid finger segments spelled as words.
_SEGMENT_WORDS = {"proximal": "1", "intermediate": "2", "distal": "3"}


class ParsedName(NamedTuple):
    layer: str  # "def", "org", "mch" or "" (Rigify layer prefix)
    side: str  # "L", "R" or "" (centre)
    base: str  # lowercase body-part name without separators, numbers kept ("upperarm1")


def parse_name(name: str) -> ParsedName:
    """Split a bone name into its Rigify layer, the character's side and a plain base name."""
    stem = re.split(r"[:|]", name)[-1]
    layer = ""
    match = re.match(r"(DEF|ORG|MCH)[-_.]", stem, flags=re.IGNORECASE)
    if match:
        layer = match.group(1).lower()
        stem = stem[match.end():]
    tokens = [t.lower() for t in _TOKEN.findall(stem)]
    tokens = [str(int(t)) if t.isdigit() else _SEGMENT_WORDS.get(t, t) for t in tokens]
    for prefix in _PREFIXES:
        if tuple(tokens[: len(prefix)]) == prefix and len(tokens) > len(prefix):
            tokens = tokens[len(prefix):]
            break
    side = ""
    kept = []
    for token in tokens:
        if token in _SIDES and not side:
            side = _SIDES[token]
        else:
            kept.append(token)
    return ParsedName(layer, side, "".join(kept))
