"""Video to Motion: detector, whole-body 2D and NLF 3D per frame, then tracking.

Frames are decoded once and streamed: a frame is dropped as soon as its boxes are cut and its
masked copies have been handed to the NLF batch (at most 64 frames wait there). What stays per
frame is small (boxes, keypoints, joints), and the Motion is built from it at the end.

The 2D face and hand points of DWPose belong to the person whose box they were found in, and
that box is the one NLF ran on, so both are joined by construction. They are stored in the
Motion lifted into 3D at the depth of that person's NLF joint (wrist for hands, head for the
face and head marks) along their own camera ray: projected with the extraction camera they land
on exactly the DWPose pixels, and a camera refit moves them together with the skeleton.
The DWPose keypoints themselves are kept too (``Motion.keypoints2d``, pixels of the Motion's
image, never smoothed or refitted): MultiAnimate is driven by skeletons drawn from them.

As SCAIL-Pose does, every frame is first resized to cover 512x896 (896x512 unless the video is
wider than tall) and centre-cropped; the networks and NLF's default camera then see what the
model will: people outside the crop are not extracted. ``full_frame`` keeps each frame whole at
its own size instead (the Motion's image size and camera say so, and ``render-pose`` reframes it
to any output size later).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..motion.model import JOINT_COUNT, Motion
from ..pose.camera import Intrinsics
from ..pose.framing import pose_size_for, size_text
from ..progress import Progress, ProgressCallback, check_cancel, no_progress
from .align import AlignReport, fit_camera, openpose_body
from .detector import PersonDetector
from .images import cover_crop
from .nlf3d import NlfBatcher, load_nlf
from .runtime import check_device, onnx_session, torch_device
from .smoothing import one_euro
from .tracking import Tracker
from .weights import WeightFiles, find_weights
from .wholebody import DRAW_THRESHOLD, FACE, HEAD_FROM_COCO, KEYPOINTS, LEFT_HAND, RIGHT_HAND, WholeBody

log = logging.getLogger(__name__)

PHASE = "extract"
# SMPL joints whose depth the 2D marks take: head (15), left wrist (20), right wrist (21).
HEAD_JOINT, LEFT_WRIST, RIGHT_WRIST = 15, 20, 21


@dataclass
class ExtractOptions:
    weights: str | os.PathLike | None = None   # default: $SCAIL_POSE_WEIGHTS
    device: str = "auto"
    people: int | None = None                  # keep the N people seen most; None keeps all
    smooth: bool = False                       # One-Euro filter (the official pipeline has none)
    align_ref: str | os.PathLike | None = None  # reference image for the camera refit
    full_frame: bool = False                   # keep frames whole at their size (default: SCAIL-Pose's crop)
    nlf_batch: int = 64


@dataclass
class Extraction:
    """The motion and what was seen on the way: boxes [T, P, 5] (x1, y1, x2, y2, score) and
    DWPose keypoints [T, P, 133, 3] (x, y, score) per tracked person, NaN where absent."""

    motion: Motion
    boxes: np.ndarray
    keypoints: np.ndarray
    align: AlignReport | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Models:
    detector: PersonDetector
    wholebody: WholeBody
    nlf: object
    torch_device: str


def load_models(files: WeightFiles, device: str = "auto") -> Models:
    """The three networks on ``device`` (onnxruntime for YOLOX and DWPose, torch for NLF)."""
    check_device(device)
    dev = torch_device(device)
    return Models(PersonDetector(onnx_session(files.yolox, device)), WholeBody(onnx_session(files.dwpose, device)),
                  load_nlf(files.nlf, dev), dev)


def extract_motion(video: str | os.PathLike, options: ExtractOptions | None = None,
                   progress: ProgressCallback = no_progress, cancel: threading.Event | None = None) -> Extraction:
    """The Motion of the people in ``video`` (mp4 or a folder of PNG frames)."""
    from ..media.video import probe_header, read_video

    options = options or ExtractOptions()
    if options.people is not None and options.people < 1:
        raise InputError(f"--people must be at least 1, got {options.people}")
    path = Path(video)
    if not path.exists():
        raise InputError(f"Video {path} does not exist")
    models = load_models(find_weights(options.weights), options.device)
    if path.is_dir():
        fps, total = 16.0, len(list(path.glob("*.png")))
    else:
        info = probe_header(path)
        fps, total = info.fps, info.frames
    return run(read_video(path, exact_count=False), fps, models, options, total=total, progress=progress,
               cancel=cancel, source=path.name)


@dataclass
class _Frame:
    index: int
    boxes: np.ndarray
    keypoints: np.ndarray
    joints: list[np.ndarray | None]
    resolved: int = 0


def run(frames: Iterable[np.ndarray], fps: float, models: Models, options: ExtractOptions, *, total: int = 0,
        progress: ProgressCallback = no_progress, cancel: threading.Event | None = None,
        source: str = "video") -> Extraction:
    """The pipeline on RGB uint8 frames (any iterable: frames are consumed one at a time)."""
    waiting: deque[_Frame] = deque()
    tracker = Tracker()
    seen: list[list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]] = []

    def resolved(key: tuple[_Frame, int], joints: np.ndarray | None) -> None:
        record, i = key
        record.joints[i] = joints
        record.resolved += 1

    def drain() -> None:
        while waiting and waiting[0].resolved == len(waiting[0].boxes):
            record = waiting.popleft()
            found = [i for i, j in enumerate(record.joints) if j is not None]
            centres = [record.joints[i].mean(axis=0) for i in found]
            areas = [float((record.boxes[i, 2] - record.boxes[i, 0]) * (record.boxes[i, 3] - record.boxes[i, 1]))
                     for i in found]
            ids = tracker.step(record.index, centres, areas)
            seen.append([(pid, record.joints[i].astype(np.float32), record.keypoints[i].astype(np.float32),
                          record.boxes[i].astype(np.float32)) for pid, i in zip(ids, found)])

    batcher = NlfBatcher(models.nlf, models.torch_device, resolved, batch=options.nlf_batch)
    source_size: tuple[int, int] | None = None
    size: tuple[int, int] | None = None
    count = 0
    for t, rgb in enumerate(frames):
        check_cancel(cancel)
        if source_size is None:
            source_size = rgb.shape[:2]
            size = source_size if options.full_frame else pose_size_for(*source_size)
        elif rgb.shape[:2] != source_size:
            raise InputError(f"Frame {t} is {rgb.shape[1]}x{rgb.shape[0]} but the video started at "
                             f"{source_size[1]}x{source_size[0]}")
        rgb = cover_crop(rgb, size)
        boxes = models.detector(rgb)
        record = _Frame(t, boxes, models.wholebody(rgb, boxes), [None] * len(boxes))
        waiting.append(record)
        for i, box in enumerate(boxes):
            batcher.add((record, i), rgb, box)
        drain()
        count = t + 1
        progress(Progress(PHASE, count, max(total, count), f"frame {count}"))
    batcher.flush()
    drain()
    if size is None or source_size is None:
        raise InputError(f"{source} has no frames")
    extraction = _assemble(seen, tracker, size, fps, models, options, source)
    if size != source_size:
        extraction.notes.append(f"frames of {size_text(source_size)} resized and centre-cropped to {size_text(size)} "
                                "as SCAIL-Pose does (full frame: --full-frame)")
    return extraction


def _assemble(seen: list, tracker: Tracker, size: tuple[int, int], fps: float, models: Models,
              options: ExtractOptions, source: str) -> Extraction:
    keep = tracker.ranking(options.people)
    if not keep:
        raise InputError(f"{source}: no person was found in any frame; there is no motion to extract")
    slot = {pid: k for k, pid in enumerate(keep)}
    frames, people = len(seen), len(keep)
    joints = np.zeros((frames, people, JOINT_COUNT, 3), np.float32)
    boxes = np.full((frames, people, 5), np.nan, np.float32)
    keypoints = np.full((frames, people, KEYPOINTS, 3), np.nan, np.float32)
    hands = np.zeros((frames, people, 2, 21, 3), np.float32)
    head = np.zeros((frames, people, len(HEAD_FROM_COCO), 3), np.float32)
    face = np.zeros((frames, people, FACE.stop - FACE.start, 3), np.float32)
    camera = Intrinsics.default(*size)
    for t, row in enumerate(seen):
        for pid, j, kp, box in row:
            if pid in slot:
                p = slot[pid]
                joints[t, p], keypoints[t, p], boxes[t, p] = j, kp, box
                hands[t, p], head[t, p], face[t, p] = lift_marks(j, kp, camera)
        row.clear()  # each frame's detections are copied once, then let go
    present = np.any(joints != 0, axis=(2, 3))
    notes = [f"{people} people tracked (of {len(tracker.tracks)} seen)", "camera: NLF's default 55-degree field of view"]
    if options.smooth:
        joints, hands, head, face = (one_euro(a, present, fps) for a in (joints, hands, head, face))
        notes.append("One-Euro smoothing applied")
    motion = Motion(joints=joints, fps=fps, intrinsics=camera, image_size=size, hands=hands, head_marks=head,
                    face=face, person_ids=[f"person_{pid}" for pid in keep], source=f"extracted from {source}",
                    keypoints2d=keypoints)
    report = None
    if options.align_ref is not None:
        motion.intrinsics, report = align_to_reference(motion, options.align_ref, models)
        notes.append(report.text())
    return Extraction(motion, boxes, keypoints, report, notes)


def lift(points: np.ndarray, depth: np.ndarray, camera: Intrinsics) -> np.ndarray:
    """Pixels [..., K, 3] (x, y, score) at camera depth ``depth`` [...] mm as 3D points [..., K, 3];
    points below the drawing threshold, or without depth, become zeros (missing)."""
    z = np.asarray(depth, np.float64)[..., None]
    ok = (np.nan_to_num(points[..., 2]) >= DRAW_THRESHOLD) & (z > 0)
    x = (np.nan_to_num(points[..., 0]) - camera.cx) / camera.fx * z
    y = (np.nan_to_num(points[..., 1]) - camera.cy) / camera.fy * z
    out = np.stack([x, y, np.broadcast_to(z, x.shape)], axis=-1)
    return np.where(ok[..., None], out, 0.0).astype(np.float32)


def lift_marks(joints: np.ndarray, keypoints: np.ndarray, camera: Intrinsics) -> tuple[np.ndarray, ...]:
    """Hands [..., 2, 21, 3] (left, right), head marks [..., 5, 3] and face [..., 68, 3] of SMPL
    joints [..., 24, 3] and DWPose keypoints [..., 133, 3]."""
    head_z = joints[..., HEAD_JOINT, 2]
    hands = np.stack([lift(keypoints[..., LEFT_HAND, :], joints[..., LEFT_WRIST, 2], camera),
                      lift(keypoints[..., RIGHT_HAND, :], joints[..., RIGHT_WRIST, 2], camera)], axis=-3)
    head = lift(keypoints[..., list(HEAD_FROM_COCO), :], head_z, camera)
    face = lift(keypoints[..., FACE, :], head_z, camera)
    return hands, head, face


def align_to_reference(motion: Motion, reference: str | os.PathLike, models: Models) -> tuple[Intrinsics, AlignReport]:
    """Refit the camera so person 0's first frame lands on the character of ``reference``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(reference) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"Reference image {reference} is not readable ({exc}); give a PNG or JPEG") from exc
    assert motion.image_size is not None and motion.intrinsics is not None
    frame = cover_crop(rgb, motion.image_size)
    boxes = models.detector(frame)
    if not len(boxes):
        return motion.intrinsics, AlignReport("not aligned")
    body = openpose_body(models.wholebody(frame, boxes[:1])[0])
    first = int(np.argmax(motion.present()[:, 0]))
    return fit_camera(motion.joints[first, 0], body, motion.intrinsics, motion.image_size)
