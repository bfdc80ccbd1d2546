"""Motion -> SCAIL pose video: the one path used by the command line, Blender and the server.

``frame_motion`` decides what is rendered (size, camera, frame rate) and returns it as a Motion,
so the exact joints and intrinsics of a render can be saved and rendered again to the same
frames. ``write_pose_video`` streams the frames into an mp4 (and PNGs), reporting progress and
honouring cancel between frames; outputs appear only when the whole clip succeeded.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .model import Motion, save_motion_npz
from .retime import retime
from ..progress import ProgressCallback, no_progress
from ..pose.camera import Intrinsics
from ..pose.framing import check_size, cover_crop
from ..pose.marks import Marks2D, project_marks
from ..pose.render import render_clip
from ..pose.skeleton import smpl_to_scail
from ..pose.outputs import PoseFiles, write_pose_files

DEFAULT_SIZE = (512, 896)


def frame_motion(motion: Motion, size: tuple[int, int] | None = None, fps: float | None = None,
                 intrinsics: Intrinsics | None = None) -> Motion:
    """The motion as it will be rendered: retimed, with the image size and camera fixed.

    Size: ``size``, else the motion's image size, else 512x896. Camera: ``intrinsics``, else the
    motion's own camera or NLF's 55-degree default for the motion's image size, moved by a
    cover-and-centre-crop when the size changes (as SCAIL's preprocessing resizes footage).
    """
    target = size or motion.image_size or DEFAULT_SIZE
    check_size(target)
    if intrinsics is None:
        source = motion.image_size or target
        intrinsics = motion.intrinsics_or_default(source)
        if source != target:
            intrinsics = cover_crop(intrinsics, source, target)
    framed = retime(motion, fps) if fps is not None else motion
    return dataclasses.replace(framed, intrinsics=intrinsics, image_size=target)


def clip_marks(motion: Motion) -> list[list[Marks2D | None]] | None:
    """Per frame and person, the projected 2D hand and head marks (None when the motion has none)."""
    if motion.hands is None and motion.head_marks is None and motion.face is None:
        return None
    assert motion.intrinsics is not None
    marks: list[list[Marks2D | None]] = []
    for t in range(motion.frames):
        row: list[Marks2D | None] = []
        for p in range(motion.people):
            head = motion.head_marks[t, p] if motion.head_marks is not None else None
            hands = motion.hands[t, p] if motion.hands is not None else None
            face = motion.face[t, p] if motion.face is not None else None
            row.append(project_marks(head, hands, motion.intrinsics, face))
        marks.append(row)
    return marks


def motion_frames(motion: Motion, scheme: str = "preview", backend: str = "auto") -> Iterator[np.ndarray]:
    """The pose frames of a framed motion (see ``frame_motion``), streamed one at a time."""
    assert motion.intrinsics is not None and motion.image_size is not None, "call frame_motion first"
    return render_clip(smpl_to_scail(motion.joints), motion.intrinsics, size=motion.image_size,
                       marks=clip_marks(motion), scheme=scheme, backend=backend)


def write_pose_video(motion: Motion, out: str | os.PathLike, *, frames_dir: str | os.PathLike | None = None,
                      joints_out: str | os.PathLike | None = None,
                      strip: tuple[Path, float, Sequence[int]] | None = None, scheme: str = "preview",
                      backend: str = "auto", progress: ProgressCallback = no_progress,
                      cancel: threading.Event | None = None) -> PoseFiles:
    """Render a framed motion (see ``frame_motion``) to ``out`` as H.264 at the motion's fps.

    ``strip`` adds a copy at the scene's rate (see ``outputs.write_pose_files``); ``joints_out``
    receives the framed motion itself. All of them are written, or none.
    """
    assert motion.intrinsics is not None and motion.image_size is not None, "call frame_motion first"
    files = write_pose_files(motion_frames(motion, scheme, backend), motion.image_size, motion.fps, Path(out),
                             total=motion.frames, strip=strip, frames_dir=Path(frames_dir) if frames_dir else None,
                             progress=progress, cancel=cancel)
    if joints_out is not None:
        try:
            save_motion_npz(motion, joints_out)
        except BaseException:
            files.remove()
            raise
    return files
