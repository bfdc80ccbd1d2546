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

From an extracted video (``detected=True``) the skeletons are instead the DWPose keypoints the
extraction detected (``Motion.keypoints2d``), drawn as MultiAnimate's data preparation draws them
(points scoring 0.3 or less left out). No segmentation is known for footage, so each
character's mask is the box around its keypoints scoring above 0.3, widened by ``BOX_MARGIN`` of
its size on every side (keypoints sit on joints, inside the silhouette); larger boxes are painted
first so a smaller (farther) person inside a nearer one's box keeps its own pixels. The boxes go
through the same identity labelling as a render's silhouettes, so the identities follow the same
left-to-right rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..media.video import VideoWriter
from ..pose.dwpose_draw import SCORE_THRESHOLD, draw_people, openpose_from_scene, openpose_points
from ..pose.marks import project_marks
from .model import Motion
from .pose_video import character_mask_frame, identity_labels

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


def character_mask_paths(masks_dir: str | Path, characters: int) -> list[Path]:
    """Where the render writes the character masks of ``characters`` identities, in identity order."""
    return [Path(masks_dir) / character_mask_name(k) for k in range(characters)]


def write_multianimate_inputs(motion: Motion, masks: list[Path], dwpose_out: str | Path,
                              masks_dir: str | Path, detected: bool = False) -> MultiAnimateFiles:
    """Write the skeleton video ``dwpose_out`` and ``masks_dir/reference_pose.png`` beside the
    character ``masks`` the render wrote; with ``detected``, draw the motion's detected keypoints
    and write the box ``masks`` here too. On any error none of these is left (the caller takes
    back the render's own files)."""
    files = MultiAnimateFiles(Path(dwpose_out), list(masks), Path(masks_dir) / REFERENCE_POSE)
    written = [files.reference_pose, files.dwpose, *(files.masks if detected else [])]
    try:
        with VideoWriter(files.dwpose, motion.fps, motion.image_size) as writer:
            for t, frame in enumerate(detected_frames(motion) if detected else dwpose_frames(motion)):
                if t == 0:
                    files.reference_pose.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(frame).save(files.reference_pose)
                writer.write(frame)
        if detected:
            _write_box_masks(motion, files.masks)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return files


def _write_box_masks(motion: Motion, masks: list[Path]) -> None:
    if len(masks) != motion.people:
        raise InputError(f"{len(masks)} character mask paths for a clip of {motion.people} people")
    with ExitStack() as stack:
        writers = [stack.enter_context(VideoWriter(path, motion.fps, motion.image_size, lossless=True))
                   for path in masks]
        for identities in identity_labels(motion, list(box_labels(motion))):
            for k, writer in enumerate(writers):
                writer.write(character_mask_frame(identities, k))
