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

From an extracted video (``detected=True``) the skeletons are instead the DWPose keypoints the
extraction detected (``Motion.keypoints2d``), drawn as MultiAnimate's data preparation draws them
(points scoring 0.3 or less left out). No segmentation is known for footage, so each
character's mask is the box around its keypoints scoring above 0.3, widened by ``BOX_MARGIN`` of
its size on every side (keypoints sit on joints, inside the silhouette); larger boxes are painted first so a smaller
(farther) person inside a nearer one's box keeps its own pixels. The identities follow the same
left-to-right rule, from those boxes.
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
from ..pose.dwpose_draw import SCORE_THRESHOLD, draw_people, openpose_from_scene, openpose_points
from ..pose.identity import PALETTE
from ..pose.marks import project_marks
from .model import Motion
from .pose_video import mask_frames

REFERENCE_POSE = "reference_pose.png"
BOX_MARGIN = 0.1


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


def detected_frames(motion: Motion) -> Iterator[np.ndarray]:
    """Every character's detected DWPose keypoints per frame, drawn on one canvas of the motion's size."""
    if motion.keypoints2d is None or motion.image_size is None:
        raise InputError("the motion has no detected DWPose keypoints (only `scail extract` records them, in "
                         ".npz); extract the video again, or draw the reprojected joints (--dwpose-source "
                         "reprojected)")
    for keypoints in motion.keypoints2d:
        yield draw_people(*openpose_points(keypoints), *motion.image_size)


def box_labels(motion: Motion) -> Iterator[np.ndarray]:
    """Per frame, which person each pixel shows (-1 = nobody): the widened box of each person's
    keypoints scoring above 0.3, larger boxes first (see the module's docstring)."""
    assert motion.keypoints2d is not None and motion.image_size is not None
    height, width = motion.image_size
    for keypoints in motion.keypoints2d:
        labels = np.full((height, width), -1, np.int16)
        boxes = []
        for person, points in enumerate(keypoints):
            xy = points[points[:, 2] > SCORE_THRESHOLD, :2]
            if len(xy):
                (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
                mx, my = (x1 - x0) * BOX_MARGIN, (y1 - y0) * BOX_MARGIN
                boxes.append(((x1 - x0 + 2 * mx) * (y1 - y0 + 2 * my), person, x0 - mx, y0 - my, x1 + mx, y1 + my))
        for _, person, x0, y0, x1, y1 in sorted(boxes, key=lambda box: -box[0]):
            cols = slice(max(0, int(np.floor(x0))), max(0, min(width, int(np.ceil(x1)) + 1)))
            rows = slice(max(0, int(np.floor(y0))), max(0, min(height, int(np.ceil(y1)) + 1)))
            labels[rows, cols] = person
        yield labels


def character_masks(frame: np.ndarray, characters: int) -> np.ndarray:
    """[characters, H, W] bool: the pixels of each identity colour in one lossless driving-mask frame."""
    colours = np.array(PALETTE[:characters], np.uint8)
    return (frame[None] == colours[:, None, None]).all(axis=-1)


def write_multianimate_inputs(motion: Motion, mask_video: str | Path | None, dwpose_out: str | Path,
                              masks_dir: str | Path, detected: bool = False) -> MultiAnimateFiles:
    """Write the skeleton video ``dwpose_out``, ``masks_dir/character_k.mp4`` (white inside, lossless)
    and ``masks_dir/reference_pose.png``; on any error nothing of them is left. ``detected`` draws
    the motion's detected keypoints and their box masks (``mask_video`` unused) instead of the
    render's joints and its driving mask."""
    characters = motion.people
    if characters > len(PALETTE):
        raise InputError(f"{characters} characters: the identity masks tell {len(PALETTE)} apart (their colours "
                         f"repeat after that); MultiAnimate animates at most 7, render at most {len(PALETTE)}")
    if detected:
        skeletons, masks = detected_frames(motion), mask_frames(motion, "animation", list(box_labels(motion)))
    else:
        info = probe_video(mask_video)
        if (info.height, info.width) != motion.image_size or info.frames != motion.frames:
            raise InputError(f"the driving mask {mask_video} ({info.frames} frames of {info.height}x{info.width}) "
                             f"does not match the render ({motion.frames} frames of {motion.image_size[0]}x"
                             f"{motion.image_size[1]})")
        skeletons, masks = dwpose_frames(motion), read_video(mask_video)
    folder = Path(masks_dir)
    files = MultiAnimateFiles(Path(dwpose_out), [folder / character_mask_name(k) for k in range(characters)],
                              folder / REFERENCE_POSE)
    written: list[Path] = []
    try:
        with VideoWriter(files.dwpose, motion.fps, motion.image_size) as writer:
            for t, frame in enumerate(skeletons):
                if t == 0:
                    folder.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(frame).save(files.reference_pose)
                    written.append(files.reference_pose)
                writer.write(frame)
        written.append(files.dwpose)
        with ExitStack() as stack:
            writers = [stack.enter_context(VideoWriter(path, motion.fps, motion.image_size, lossless=True))
                       for path in files.masks]
            for frame in masks:
                for writer, inside in zip(writers, character_masks(frame, characters)):
                    writer.write(np.repeat((inside * np.uint8(255))[..., None], 3, axis=2))
    except BaseException:
        for path in [*written, *files.masks]:  # the masks' folder was new or empty
            path.unlink(missing_ok=True)
        raise
    return files
