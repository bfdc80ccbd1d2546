"""Motion -> SCAIL pose video: the one path used by the command line, Blender and the server.

``frame_motion`` decides what is rendered (size, camera, frame rate) and returns it as a Motion,
so the exact joints and intrinsics of a render can be saved and rendered again to the same
frames. ``write_pose_video`` streams the frames into an mp4 (and PNGs), reporting progress and
honouring cancel between frames; outputs appear only when the whole clip succeeded. A clip in
which nobody can be drawn is refused before rendering (a black video with exit 0 would be a
silent wrong result), and a clip with some empty frames says how many. With ``mask_out`` the
same call writes the SCAIL-2 driving mask of the skeleton render (``mask_frames``) beside it, and
with ``character_masks`` MultiAnimate's one binary mask video per character, both cut from the
same per-frame identity labels (``identity_labels``).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from .model import Motion, save_motion_npz
from .retime import retime
from ..progress import ProgressCallback, no_progress
from ..pose.camera import Intrinsics
from ..pose.framing import check_size, cover_crop, cover_crop_points
from ..pose.marks import Marks2D, project_marks
from ..pose.identity import IdentityTracker, background, identity_order, label_boxes, paint_mask
from ..pose.render import render_clip, render_clip_people
from ..media.video import VideoWriter
from ..pose.skeleton import smpl_to_scail
from ..pose.outputs import PoseFiles, write_pose_files
from ..errors import InputError
from ..outputs import atomic_file

DEFAULT_SIZE = (512, 896)
# Mask videos written beside a render: each writer with how it draws a frame from the identity labels.
MaskWriters = Sequence[tuple[VideoWriter, Callable[[np.ndarray], np.ndarray]]]


def frame_motion(motion: Motion, size: tuple[int, int] | None = None, fps: float | None = None,
                 intrinsics: Intrinsics | None = None) -> Motion:
    """The motion as it will be rendered: retimed, with the image size and camera fixed.

    Size: ``size``, else the motion's image size, else 512x896. Camera: ``intrinsics``, else the
    motion's own camera or NLF's 55-degree default for the motion's image size, moved by a
    cover-and-centre-crop when the size changes (as SCAIL's preprocessing resizes footage).
    Detected 2D keypoints, pixels of the motion's image, follow the same resize and crop.
    """
    target = size or motion.image_size or DEFAULT_SIZE
    check_size(target)
    if intrinsics is None:
        source = motion.image_size or target
        intrinsics = motion.intrinsics_or_default(source)
        if source != target:
            intrinsics = cover_crop(intrinsics, source, target)
    framed = retime(motion, fps) if fps is not None else motion
    keypoints = framed.keypoints2d
    if keypoints is not None and framed.image_size != target:
        keypoints = cover_crop_points(keypoints, framed.image_size, target)
    return dataclasses.replace(framed, intrinsics=intrinsics, image_size=target, keypoints2d=keypoints)


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


def motion_frames(motion: Motion, scheme: str = "preview", renderer: str = "auto") -> Iterator[np.ndarray]:
    """The pose frames of a framed motion (see ``frame_motion``), streamed one at a time."""
    assert motion.intrinsics is not None and motion.image_size is not None, "call frame_motion first"
    return render_clip(smpl_to_scail(motion.joints), motion.intrinsics, size=motion.image_size,
                       marks=clip_marks(motion), scheme=scheme, renderer=renderer)


def identity_labels(motion: Motion, labels: Collection[np.ndarray] | None = None) -> Iterator[np.ndarray]:
    """Per frame of a framed motion, which identity each pixel shows (-1 = nobody), ``[H, W]`` int32.

    ``labels`` are, per frame, which person each pixel shows (-1 = nobody), as a scene render
    draws them from the characters' meshes (``pose.silhouettes``); without them each person's
    capsule silhouette (as ``render_clip`` draws it, occlusion included) is used. Identities are
    decided from where the silhouettes are when each person is first seen (left to right in the
    first frame, later arrivals after), so a character keeps its identity when people swap sides
    later. Both the SCAIL-2 mask (``mask_frames``) and MultiAnimate's character masks are made
    from these images, so each frame's labels are computed once for both.
    """
    assert motion.intrinsics is not None and motion.image_size is not None, "call frame_motion first"
    if labels is None:
        return _identities(motion, render_clip_people(smpl_to_scail(motion.joints), motion.intrinsics,
                                                      motion.image_size))
    if len(labels) != motion.frames:  # refused now, before a caller opens any file
        raise InputError(f"the mask has {len(labels)} label frames but the clip {motion.frames} frames")
    return _identities(motion, iter(labels))


def _identities(motion: Motion, labels: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    assert motion.image_size is not None
    tracker = IdentityTracker(motion.people)
    for frame in labels:
        if frame.shape != tuple(motion.image_size):
            raise InputError(f"a mask label frame is {frame.shape[0]}x{frame.shape[1]}, the clip "
                             f"{motion.image_size[0]}x{motion.image_size[1]}")
        identities = tracker.update(label_boxes(frame, motion.people))
        if frame.size and (frame.max(initial=-1) >= motion.people or frame.min(initial=-1) < -1):
            raise InputError(f"person labels run from {frame.min()} to {frame.max()} but the clip has "
                             f"{motion.people} people")
        yield np.append(identities, -1).astype(np.int32)[np.where(frame >= 0, frame, motion.people)]


def mask_frames(motion: Motion, mode: str = "animation", labels: Collection[np.ndarray] | None = None
                ) -> Iterator[np.ndarray]:
    """The SCAIL-2 driving mask of a framed motion, one frame per pose frame: each identity of
    ``identity_labels`` (same ``labels``) painted in its colour on ``mode``'s driving background
    (the six colours repeat from the seventh identity on, as SCAIL-2's palette does)."""
    every = np.arange(motion.people)
    return (paint_mask(frame, every, mode, "driving") for frame in identity_labels(motion, labels))


def character_mask_frame(identities: np.ndarray, identity: int) -> np.ndarray:
    """MultiAnimate's mask frame ``[H, W, 3]`` uint8 of one identity: white where it shows, black
    elsewhere (binary, so a lossless video of it thresholds the same at any level)."""
    return np.repeat((identities == identity).astype(np.uint8)[..., None] * np.uint8(255), 3, axis=2)


def first_frame_identities(motion: Motion) -> np.ndarray:
    """Identity per person as ``mask_frames`` paints them in the first frame (left to right by
    silhouette), for reference masks that must use the driving mask's colours; people not seen in
    the first frame follow in person order."""
    assert motion.intrinsics is not None and motion.image_size is not None, "call frame_motion first"
    labels = next(render_clip_people(smpl_to_scail(motion.joints[:1]), motion.intrinsics, motion.image_size))
    return identity_order(label_boxes(labels, motion.people))


def _writing_masks(frames: Iterator[np.ndarray], identities: Iterator[np.ndarray], writers: MaskWriters
                   ) -> Iterator[np.ndarray]:
    """Pass the pose frames through, writing each mask video's frame of each as it goes, all
    from the same identity labels (one stream, so progress and cancel cover every video)."""
    for frame, labels in zip(frames, identities):
        for writer, draw in writers:
            writer.write(draw(labels))
        yield frame


def drawable(motion: Motion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[T, P] masks of a framed motion: present, in front of the camera, and drawable (some joint
    in front of the camera projects into the picture)."""
    assert motion.intrinsics is not None and motion.image_size is not None, "call frame_motion first"
    present = motion.present()
    z = motion.joints[..., 2]
    front = (z > 0) & present[..., None]
    xy = motion.intrinsics.project(motion.joints)
    height, width = motion.image_size
    with np.errstate(invalid="ignore"):
        inside = front & (xy[..., 0] >= 0) & (xy[..., 0] < width) & (xy[..., 1] >= 0) & (xy[..., 1] < height)
    return present, front.any(axis=2), inside.any(axis=2)


def check_drawable(motion: Motion) -> list[str]:
    """Refuse a framed motion in which nobody can be drawn in any frame, naming the reason;
    otherwise the warnings to show (how many frames show nobody)."""
    present, front, inside = drawable(motion)
    shown = inside.any(axis=1)
    if not shown.any():
        if not present.any():
            reason = "every person is missing (all-zero joints) in every frame"
        elif not front.any():
            reason = "every person is behind the camera in every frame (joint z <= 0; z points forward, in mm)"
        else:
            reason = "every person is outside the camera's view in every frame"
        raise InputError(f"nobody would be drawn, the pose video would be black: {reason}; check the camera "
                         "(or --intrinsics) and the joints' units and axes (OpenCV camera space, millimetres)")
    empty = int((~shown).sum())
    if not empty:
        return []
    first = int(np.flatnonzero(~shown)[0])
    return [f"{empty} of {motion.frames} frames show nobody (first: frame {first}); they render black"]


def write_pose_video(motion: Motion, out: str | os.PathLike, *, frames_dir: str | os.PathLike | None = None,
                      joints_out: str | os.PathLike | None = None,
                      strip: tuple[Path, float, Sequence[int]] | None = None, scheme: str = "preview",
                      renderer: str = "auto", progress: ProgressCallback = no_progress,
                      cancel: threading.Event | None = None, mask_out: str | os.PathLike | None = None,
                      mask_mode: str = "animation", mask_labels: Collection[np.ndarray] | None = None,
                      driving_frames: Collection[np.ndarray] | None = None,
                      character_masks: Sequence[str | os.PathLike] | None = None) -> PoseFiles:
    """Render a framed motion (see ``frame_motion``) to ``out`` as H.264 at the motion's fps.

    ``strip`` adds a copy at the scene's rate (see ``outputs.write_pose_files``); ``joints_out``
    receives the framed motion itself; ``mask_out`` the SCAIL-2 driving mask (``mask_frames``,
    ``mask_mode`` "animation" or "replacement") with the pose video's frames, size and rate,
    encoded losslessly so every pixel decodes to its exact colour; ``character_masks``, one path
    per person of the motion in identity order, MultiAnimate's binary mask videos (white where
    that identity shows, lossless), cut from the same per-frame identity labels
    (``identity_labels``) with no colour code in between, so their number is not bounded by the
    SCAIL-2 palette; ``mask_labels`` are the silhouettes a scene render drew from meshes (see
    ``identity_labels``); ``driving_frames``, one per pose frame, are written as the video
    instead of the skeleton render (a scene's mesh driving render, drawn with the mask labels).
    All of them are written, or none. The paths must have passed
    ``scail_blender.outputs.check_outputs``; the result's ``warnings`` are for the user.
    """
    assert motion.intrinsics is not None and motion.image_size is not None, "call frame_motion first"
    characters = [Path(path) for path in character_masks or []]
    if mask_out is None and not characters:
        return _write_pose_video(motion, out, frames_dir, joints_out, strip, scheme, renderer, progress, cancel, None,
                                 driving_frames)
    background(mask_mode, "driving")  # refuse an unknown mode before any file is started
    if characters and len(characters) != motion.people:
        raise InputError(f"{len(characters)} character mask paths for a clip of {motion.people} people")
    identities = identity_labels(motion, mask_labels)
    every = np.arange(motion.people)
    targets = [*([Path(mask_out)] if mask_out is not None else []), *characters]
    with ExitStack() as stack:
        writers: list[tuple[VideoWriter, Callable[[np.ndarray], np.ndarray]]] = []
        if mask_out is not None:
            writers.append((stack.enter_context(VideoWriter(mask_out, motion.fps, motion.image_size, lossless=True)),
                            lambda labels: paint_mask(labels, every, mask_mode, "driving")))
        for k, path in enumerate(characters):
            writers.append((stack.enter_context(VideoWriter(path, motion.fps, motion.image_size, lossless=True)),
                            lambda labels, k=k: character_mask_frame(labels, k)))
        files = _write_pose_video(motion, out, frames_dir, joints_out, strip, scheme, renderer, progress, cancel,
                                  (identities, writers), driving_frames)
        try:
            stack.close()  # the masks commit last: if one cannot be put in place, every file goes
        except BaseException:
            files.remove()
            for path in [*targets, *([Path(joints_out)] if joints_out is not None else [])]:
                path.unlink(missing_ok=True)
            raise
    return dataclasses.replace(files, mask=Path(mask_out) if mask_out is not None else None,
                               character_masks=tuple(characters))


def _write_pose_video(motion: Motion, out, frames_dir, joints_out, strip, scheme: str, renderer: str,
                      progress: ProgressCallback, cancel: threading.Event | None,
                      masks: tuple[Iterator[np.ndarray], MaskWriters] | None,
                      driving_frames: Collection[np.ndarray] | None = None) -> PoseFiles:
    warnings = check_drawable(motion)
    if driving_frames is not None and len(driving_frames) != motion.frames:
        raise InputError(f"the driving video has {len(driving_frames)} frames but the clip {motion.frames} frames")
    frames = motion_frames(motion, scheme, renderer) if driving_frames is None else iter(driving_frames)
    if masks is not None:
        frames = _writing_masks(frames, *masks)
    target = Path(frames_dir) if frames_dir else None
    if joints_out is None:
        files = write_pose_files(frames, motion.image_size, motion.fps, Path(out), total=motion.frames,
                                 strip=strip, frames_dir=target, progress=progress, cancel=cancel)
    else:
        done: list[PoseFiles] = []
        try:
            with atomic_file(joints_out, "joints") as temp:
                save_motion_npz(motion, temp)  # written first, put in place right after the videos
                done.append(write_pose_files(frames, motion.image_size, motion.fps, Path(out), total=motion.frames,
                                             strip=strip, frames_dir=target, progress=progress, cancel=cancel))
        except BaseException:
            for written in done:  # the joints file could not be put in place
                written.remove()
            raise
        files = done[0]
    if files.frames_kept:
        warnings.append(f"{len(files.frames_kept)} older numbered frames in {files.frames_dir} "
                        f"({files.frames_kept[0]}...) are past this clip's {files.frames} frames and were left as they were")
    return dataclasses.replace(files, warnings=tuple(warnings))
