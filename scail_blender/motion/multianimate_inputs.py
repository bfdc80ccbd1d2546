"""MultiAnimate's inputs from a rendered clip: every character's DWPose-style skeleton on one
canvas, one binary mask video per character, and the reference's skeleton frame.

They are made from two things a pose render already writes, so the command line (``--motion``
and ``--blend``) and the panel share one path: the joints file (camera-space joints, head and
hand marks, the camera and size actually rendered: rendering it again gives the same frames)
and the lossless SCAIL-2 driving mask, where each character is painted in its identity colour
(left to right in the first frame, later arrivals after; with ``--blend`` from the meshes'
per-pixel silhouettes). Decoding the lossless colours gives those per-pixel labels back exactly,
and mask k is the pixels of identity colour k: character k gets MultiAnimate's identity slot k
(label channel k + 1), the order the model expects. The reference skeleton is the first frame's
render, the frame the reference image is rendered at by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..media.video import VideoWriter, probe_video, read_video
from ..pose.dwpose_draw import draw_people, openpose_from_scene
from ..pose.identity import PALETTE
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


def character_masks(frame: np.ndarray, characters: int) -> np.ndarray:
    """[characters, H, W] bool: the pixels of each identity colour in one lossless driving-mask frame."""
    colours = np.array(PALETTE[:characters], np.uint8)
    return (frame[None] == colours[:, None, None]).all(axis=-1)


def write_multianimate_inputs(motion: Motion, mask_video: str | Path, dwpose_out: str | Path,
                              masks_dir: str | Path) -> MultiAnimateFiles:
    """Write the skeleton video ``dwpose_out``, ``masks_dir/character_k.mp4`` (white inside, lossless)
    and ``masks_dir/reference_pose.png``; on any error nothing of them is left."""
    characters = motion.people
    if characters > len(PALETTE):
        raise InputError(f"{characters} characters: the identity masks tell {len(PALETTE)} apart (their colours "
                         f"repeat after that); MultiAnimate animates at most 7, render at most {len(PALETTE)}")
    info = probe_video(mask_video)
    if (info.height, info.width) != motion.image_size or info.frames != motion.frames:
        raise InputError(f"the driving mask {mask_video} ({info.frames} frames of {info.height}x{info.width}) does "
                         f"not match the render ({motion.frames} frames of {motion.image_size[0]}x"
                         f"{motion.image_size[1]})")
    folder = Path(masks_dir)
    files = MultiAnimateFiles(Path(dwpose_out), [folder / character_mask_name(k) for k in range(characters)],
                              folder / REFERENCE_POSE)
    written: list[Path] = []
    try:
        with VideoWriter(files.dwpose, motion.fps, motion.image_size) as writer:
            for t, frame in enumerate(dwpose_frames(motion)):
                if t == 0:
                    folder.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(frame).save(files.reference_pose)
                    written.append(files.reference_pose)
                writer.write(frame)
        written.append(files.dwpose)
        with ExitStack() as stack:
            writers = [stack.enter_context(VideoWriter(path, motion.fps, motion.image_size, lossless=True))
                       for path in files.masks]
            for frame in read_video(mask_video):
                for writer, inside in zip(writers, character_masks(frame, characters)):
                    writer.write(np.repeat((inside * np.uint8(255))[..., None], 3, axis=2))
    except BaseException:
        for path in [*written, *files.masks]:  # the masks' folder was new or empty
            path.unlink(missing_ok=True)
        raise
    return files
