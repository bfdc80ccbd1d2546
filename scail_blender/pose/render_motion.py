"""A Motion (camera-space joints and marks) to the SCAIL pose frames of a chosen size.

Used for both the rig path and ``--motion`` so a motion saved with ``--joints-out`` renders
to the same frames. When the motion was captured at another size, the frames are what the
official pipeline makes of it: scaled to cover the target and centre-cropped, done here by
adjusting the intrinsics instead of resampling pixels.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .camera import Intrinsics
from .marks import Marks2D, project_marks
from .render import render_clip
from .skeleton import smpl_to_scail


def cover_intrinsics(intrinsics: Intrinsics, source: tuple[int, int], target: tuple[int, int]) -> Intrinsics:
    """Intrinsics of a ``source`` (H, W) image scaled to cover ``target`` and centre-cropped.

    Pixel centres sit at integers, so a pixel edge coordinate is x + 0.5 before scaling.
    """
    (sh, sw), (th, tw) = source, target
    if (sh, sw) == (th, tw):
        return intrinsics
    scale = max(th / sh, tw / sw)
    off_x, off_y = (sw * scale - tw) / 2.0, (sh * scale - th) / 2.0
    return Intrinsics(fx=intrinsics.fx * scale, fy=intrinsics.fy * scale,
                      cx=(intrinsics.cx + 0.5) * scale - off_x - 0.5,
                      cy=(intrinsics.cy + 0.5) * scale - off_y - 0.5)


def motion_intrinsics(motion, size: tuple[int, int]) -> Intrinsics:
    """The camera the frames of ``size`` are rendered with (NLF's default when unknown)."""
    if motion.intrinsics is None:
        return Intrinsics.default(*size)
    source = tuple(motion.image_size) if motion.image_size is not None else size
    return cover_intrinsics(motion.intrinsics, source, size)


def motion_marks(motion, intrinsics: Intrinsics) -> list[list[Marks2D | None]] | None:
    """Per frame and person, the projected head and hand marks (None where a person is absent)."""
    if motion.head_marks is None and motion.hands is None:
        return None
    present = np.any(motion.joints != 0, axis=(2, 3))
    marks: list[list[Marks2D | None]] = []
    for t in range(motion.joints.shape[0]):
        row: list[Marks2D | None] = []
        for p in range(motion.joints.shape[1]):
            if not present[t, p]:
                row.append(None)
                continue
            head = motion.head_marks[t, p] if motion.head_marks is not None else None
            hands = motion.hands[t, p] if motion.hands is not None else None
            row.append(project_marks(head, hands, intrinsics))
        marks.append(row)
    return marks


def motion_frames(motion, size: tuple[int, int], scheme: str = "preview",
                  backend: str = "auto") -> tuple[Iterator[np.ndarray], int]:
    """(frames, count): the pose frames of ``motion`` at ``size`` (H, W), streamed."""
    intrinsics = motion_intrinsics(motion, size)
    joints = smpl_to_scail(motion.joints)
    frames = render_clip(joints, intrinsics, size, marks=motion_marks(motion, intrinsics),
                         scheme=scheme, backend=backend)
    return frames, int(joints.shape[0])
