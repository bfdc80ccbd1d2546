"""Four points per finger (knuckle, two joints, tip), with a guard against leaf bones that lie.

A finger's tip is the head of its tip bone when the rig has one (Mixamo and most exporters
write a fourth, end bone there). Without it the tip is the third bone's tail, and that tail is
not always where the finger ends: Blender's glTF importer gives leaf bones a length of its own
choosing, 60-130 times too long on rigs imported at object scale 0.01, which would send the
fingertip across the frame. So the last segment is capped at a plausible share of the one
before it, and the cap is reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bones import BoneInfo, JointSource

# The last finger segment is at most this many times the middle one (real distal phalanges
# are shorter than the middle ones; thumbs come closest).
TIP_CAP = 1.5


def finger_points(chain: Sequence[BoneInfo], finger: str, capped: dict[str, float]) -> list[JointSource] | None:
    """Points of a finger from its bones, base first: three finger bones, then the tip bone if any.
    A capped tip is recorded in ``capped`` (finger -> how many times too long the last bone was)."""
    if len(chain) < 3:
        return None
    points = [JointSource(bone.name) for bone in chain[:3]]
    if len(chain) >= 4:
        return points + [JointSource(chain[3].name)]
    last = chain[2]
    middle = float(np.linalg.norm(np.subtract(last.head, chain[1].head)))
    limit = TIP_CAP * middle
    if middle > 0 and last.length > limit:
        capped[finger] = last.length / middle
        return points + [JointSource(last.name, "head", (0.0, limit, 0.0))]
    return points + [JointSource(last.name, "tail")]


def capped_note(side: str, capped: dict[str, float]) -> str:
    """One report line for the capped fingertips of a hand."""
    return (f"{side} hand: fingertips of {', '.join(capped)} capped at {TIP_CAP:g}x the segment before them "
            f"(their last bones are up to {max(capped.values()):.0f}x that long, as the leaf bones of Blender's "
            "glTF importer are)")
