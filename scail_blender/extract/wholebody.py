"""DWPose whole-body keypoints (133 COCO-WholeBody points) for each person box.

Official maths (DWPose ``onnxpose.py``, RTMPose's top-down recipe): the box's centre and its size
times 1.25 are widened to the model's aspect (w / h = 288 / 384); the crop is the similarity that
maps that centre to (144, 192) and the box width to 288 pixels (cv2.warpAffine, bilinear, black
border) of the BGR frame, normalised by mean (123.675, 116.28, 103.53) and std (58.395, 57.12,
57.375) in channel order. SimCC decoding: each keypoint's x and y are the argmax of its 576 and
768 bins divided by the split ratio 2, its score the smaller of the two maxima (location -1 when
that is <= 0), mapped back through the crop. Points scoring below 0.3 are not drawn.

Index ranges: body 0-16, feet 17-22, face 23-90, left hand 91-111, right hand 112-132.
With no person box the official code crops the whole frame; here a frame without a box has no
person, because such keypoints belong to no NLF person and would be dropped anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .images import warp_affine

log = logging.getLogger(__name__)

INPUT_W, INPUT_H = 288, 384
PADDING = 1.25
SPLIT_RATIO = 2.0
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
KEYPOINTS = 133
DRAW_THRESHOLD = 0.3
FACE = slice(23, 91)
LEFT_HAND = slice(91, 112)
RIGHT_HAND = slice(112, 133)
# COCO body order: nose, left eye, right eye, left ear, right ear; head marks want
# nose, right eye, left eye, right ear, left ear.
HEAD_FROM_COCO = (0, 2, 1, 4, 3)


@dataclass(frozen=True)
class Crop:
    image: np.ndarray   # [384, 288, 3] uint8 RGB (the model gets it as BGR)
    center: np.ndarray  # [2] box centre in frame pixels
    scale: np.ndarray   # [2] (w, h) of the crop's footprint in frame pixels

    def matrix(self) -> np.ndarray:
        return crop_matrix(self.center, self.scale)


def crop_box(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and aspect-fixed footprint (w, h) of a box (x1, y1, x2, y2, ...)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    center = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    w, h = (x2 - x1) * PADDING, (y2 - y1) * PADDING
    aspect = INPUT_W / INPUT_H
    scale = np.array([w, w / aspect]) if w > h * aspect else np.array([h * aspect, h])
    return center, scale


def crop_matrix(center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The 2x3 frame-to-crop matrix: uniform zoom INPUT_W / scale_w about the box centre."""
    zoom = INPUT_W / scale[0]
    return np.array([[zoom, 0.0, INPUT_W / 2 - zoom * center[0]],
                     [0.0, zoom, INPUT_H / 2 - zoom * center[1]]])


def crop(rgb: np.ndarray, box: np.ndarray) -> Crop:
    center, scale = crop_box(box)
    return Crop(warp_affine(rgb, crop_matrix(center, scale), (INPUT_H, INPUT_W)), center, scale)


def model_input(crops: list[Crop]) -> np.ndarray:
    """[N, 3, 384, 288] float32: crops swapped to BGR (the warp is per channel, so this equals
    warping the BGR frame), normalised, channels first."""
    stack = np.stack([c.image[..., ::-1] for c in crops]).astype(np.float32)
    return np.ascontiguousarray(((stack - MEAN) / STD).transpose(0, 3, 1, 2))


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop-pixel keypoints [N, K, 2] and scores [N, K] from SimCC vectors."""
    locs = np.stack([np.argmax(simcc_x, axis=2), np.argmax(simcc_y, axis=2)], axis=-1).astype(np.float64)
    scores = np.minimum(np.max(simcc_x, axis=2), np.max(simcc_y, axis=2)).astype(np.float64)
    locs[scores <= 0] = -1
    return locs / SPLIT_RATIO, scores


def to_frame(points: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Crop-pixel points [K, 2] back in frame pixels (the official rescale)."""
    return points / np.array([INPUT_W, INPUT_H]) * scale + center - scale / 2


class WholeBody:
    """DWPose on onnxruntime: RGB frame and boxes in, [n, 133, 3] (x, y, score) out."""

    def __init__(self, session) -> None:
        self.session = session
        inputs = session.get_inputs()[0]
        self.input_name = inputs.name
        self.batched = not isinstance(inputs.shape[0], int) or inputs.shape[0] != 1

    def __call__(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        if not len(boxes):
            return np.zeros((0, KEYPOINTS, 3))
        crops = [crop(rgb, box) for box in boxes]
        batch = model_input(crops)
        chunks = [batch] if self.batched else [batch[i:i + 1] for i in range(len(batch))]
        outs = [self.session.run(None, {self.input_name: c}) for c in chunks]  # (simcc_x, simcc_y), by position
        simcc_x = np.concatenate([o[0] for o in outs])
        simcc_y = np.concatenate([o[1] for o in outs])
        points, scores = decode_simcc(simcc_x, simcc_y)
        frame_points = np.stack([to_frame(p, c.center, c.scale) for p, c in zip(points, crops)])
        return np.concatenate([frame_points, scores[..., None]], axis=-1)
