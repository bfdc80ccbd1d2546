"""MultiAnimate's inputs from a rendered clip: every character's DWPose-style skeleton on one
canvas, one binary mask video per character, and the reference's skeleton frame.

The masks are written by the render itself (``pose_video.write_pose_video`` with
``character_masks``): each frame's integer identity labels (left to right in the first frame,
later arrivals after; with ``--blend`` from the meshes' per-pixel silhouettes) are cut into one
binary mask per identity, so character k gets MultiAnimate's identity slot k (label channel
k + 1), the order the model expects, and no colour code limits how many there are (SCAIL-2's
palette has six colours; MultiAnimate's extended checkpoint takes seven characters). The
skeletons are drawn afterwards from the joints file the render wrote (camera-space joints, head
and hand marks, the camera and size actually rendered: rendering it again gives the same
frames). The reference skeleton is the first frame's render, the frame the reference image is
rendered at by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..media.video import VideoWriter
from ..pose.dwpose_draw import draw_people, openpose_from_scene
from ..pose.marks import project_marks
from .model import Motion

REFERENCE_POSE = "reference_pose.png"


def character_mask_name(index: int) -> str:
    """``character_1.mp4``...: the mask video of identity ``index`` (0-based), numbered from 1."""
    return f"character_{index + 1}.mp4"


@dataclass(frozen=True)
class MultiAnimateFiles:
    dwpose: Path
    masks: list[Path]  # in identity order: give them to scail generate --character-mask in this order
    reference_pose: Path


def dwpose_frames(motion: Motion) -> Iterator[np.ndarray]:
    """Every character's skeleton per frame, drawn DWPose style (body, feet, hands) on one canvas."""
    if motion.image_size is None:
        raise InputError("the motion has no image size; render it first (scail render-pose --joints-out)")
    size = motion.image_size
    camera = motion.intrinsics_or_default(size)
    for t in range(motion.frames):
        joints = camera.project(motion.joints[t])  # missing (all-zero) joints are at z = 0: NaN
        marks = [project_marks(None if motion.head_marks is None else motion.head_marks[t, p],
                               None if motion.hands is None else motion.hands[t, p], camera)
                 for p in range(motion.people)]
        yield draw_people(*openpose_from_scene(joints, marks), *size)


def character_mask_paths(masks_dir: str | Path, characters: int) -> list[Path]:
    """Where the render writes the character masks of ``characters`` identities, in identity order."""
    return [Path(masks_dir) / character_mask_name(k) for k in range(characters)]


def write_multianimate_inputs(motion: Motion, masks: list[Path], dwpose_out: str | Path,
                              masks_dir: str | Path) -> MultiAnimateFiles:
    """Write the skeleton video ``dwpose_out`` and ``masks_dir/reference_pose.png`` beside the
    character ``masks`` the render wrote; on any error neither of them is left (the caller takes
    back the render's own files, the masks among them)."""
    files = MultiAnimateFiles(Path(dwpose_out), list(masks), Path(masks_dir) / REFERENCE_POSE)
    try:
        with VideoWriter(files.dwpose, motion.fps, motion.image_size) as writer:
            for t, frame in enumerate(dwpose_frames(motion)):
                if t == 0:
                    files.reference_pose.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(frame).save(files.reference_pose)
                writer.write(frame)
    except BaseException:
        files.reference_pose.unlink(missing_ok=True)
        raise
    return files
