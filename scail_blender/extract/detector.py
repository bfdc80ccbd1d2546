"""YOLOX-L person boxes, as SCAIL-Pose's DWPose code runs the detector.

Official maths (DWPose ``onnxdet.py``, via SCAIL-Pose ``DWPoseProcess/dwpose``): the BGR frame is
resized by r = min(640 / H, 640 / W) (cv2.resize, INTER_LINEAR, to int(W r) x int(H r)) into the
top-left corner of a 640 x 640 canvas of grey 114, fed as raw 0-255 floats; each of the 8400
outputs (strides 8, 16, 32) decodes to centre (o + grid) * stride and size exp(o) * stride, score
objectness x class; per-class NMS at IoU 0.45 with YOLOX's inclusive (+1) box areas, then boxes of
class 0 (person) with score > 0.3 are kept, divided by r. NMS runs on class 0 only, with the
final 0.3 threshold: the official 0.1 pre-threshold changes nothing for boxes above 0.3, because
NMS only lets a box remove lower-scored ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .images import resize_linear

log = logging.getLogger(__name__)

INPUT_SIZE = 640
PAD_VALUE = 114
STRIDES = (8, 16, 32)
SCORE_THRESHOLD = 0.3
NMS_IOU = 0.45
PERSON_CLASS = 0


@dataclass(frozen=True)
class Letterbox:
    image: np.ndarray  # [1, 3, 640, 640] float32, BGR 0-255
    ratio: float


def letterbox(rgb: np.ndarray) -> Letterbox:
    """The detector input (BGR, as the official code feeds it) of an RGB frame, and the resize
    ratio that maps boxes back. Channels are swapped after resizing: the resize works per
    channel, so the result is the same as resizing the BGR frame, without copying the frame."""
    height, width = rgb.shape[:2]
    ratio = min(INPUT_SIZE / height, INPUT_SIZE / width)
    size = (int(height * ratio), int(width * ratio))
    canvas = np.full((INPUT_SIZE, INPUT_SIZE, 3), PAD_VALUE, np.uint8)
    canvas[:size[0], :size[1]] = resize_linear(rgb, size)
    return Letterbox(np.ascontiguousarray(canvas[..., ::-1].transpose(2, 0, 1)[None], np.float32), ratio)


def _grid(size: int = INPUT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    cells, strides = [], []
    for stride in STRIDES:
        n = size // stride
        ys, xs = np.mgrid[0:n, 0:n]
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((n * n, 1), stride))
    return np.concatenate(cells).astype(np.float64), np.concatenate(strides).astype(np.float64)


GRID, GRID_STRIDES = _grid()


def decode(output: np.ndarray, ratio: float) -> np.ndarray:
    """Person boxes [n, 5] (x1, y1, x2, y2, score) in frame pixels from the raw [1, 8400, 85] output."""
    pred = np.asarray(output)[0, :, :6 + PERSON_CLASS].astype(np.float64)  # boxes, objectness, person
    centre = (pred[:, :2] + GRID) * GRID_STRIDES
    half = np.exp(pred[:, 2:4]) * GRID_STRIDES / 2
    scores = pred[:, 4] * pred[:, 5 + PERSON_CLASS]
    keep = scores > SCORE_THRESHOLD
    boxes = np.concatenate([centre - half, centre + half], axis=1)[keep] / ratio
    scores = scores[keep]
    chosen = nms(boxes, scores, NMS_IOU)
    return np.concatenate([boxes[chosen], scores[chosen, None]], axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy NMS by descending score, YOLOX's rule (inclusive pixel areas, drop IoU > ``iou``)."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        best, rest = order[0], np.array(order[1:], dtype=np.int64)
        keep.append(int(best))
        if not len(rest):
            break
        w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = w * h
        overlap = inter / (areas[best] + areas[rest] - inter)
        order = list(rest[overlap <= iou])
    return keep


class PersonDetector:
    """YOLOX-L on onnxruntime: RGB frame in, person boxes out."""

    def __init__(self, session) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        box = letterbox(rgb)
        output = self.session.run(None, {self.input_name: box.image})[0]
        return decode(output, box.ratio)
