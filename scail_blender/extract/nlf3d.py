"""NLF 3D joints for each person box, the way SCAIL-Pose feeds the torchscript model.

For every YOLOX box the frame is blacked out except the box widened by 2.5% of the width on each
side and 5% of the height above and below (floor / ceil to whole pixels, clipped to the frame);
those masked frames go to ``model.detect_smpl_batched`` (uint8, N x 3 x H x W, RGB) in batches
of up to 64, and ``joints3d_nonparam`` (mm, OpenCV camera space) is the answer. SCAIL-Pose keeps
detection 0 of each masked frame; when two people overlap, the other person can be detection
0, so here the detection whose NLF box overlaps the YOLOX box most is kept (detection 0 when the
model gives no boxes).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)

BATCH = 64
MARGIN_X, MARGIN_Y = 0.025, 0.05
JOINTS = 24


def mask_bounds(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) pixel bounds kept for a box (x1, y1, x2, y2, ...) in frame pixels."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return (max(0, int(np.floor(x1 - width * MARGIN_X))), max(0, int(np.floor(y1 - height * MARGIN_Y))),
            min(width, int(np.ceil(x2 + width * MARGIN_X))), min(height, int(np.ceil(y2 + height * MARGIN_Y))))


def iou_xywh(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of NLF boxes [n, 4+] (x, y, w, h) with one (x1, y1, x2, y2) box."""
    x1 = np.maximum(boxes[:, 0], box[0])
    y1 = np.maximum(boxes[:, 1], box[1])
    x2 = np.minimum(boxes[:, 0] + boxes[:, 2], box[2])
    y2 = np.minimum(boxes[:, 1] + boxes[:, 3], box[3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = boxes[:, 2] * boxes[:, 3] + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / np.maximum(union, 1e-9)


def pick_detection(result_boxes: np.ndarray | None, joints: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """The [24, 3] joints of the detection that belongs to ``box``; None when there is none."""
    if joints is None or len(joints) == 0:
        return None
    index = 0
    if result_boxes is not None and len(result_boxes) == len(joints):
        index = int(np.argmax(iou_xywh(result_boxes, box)))
    return joints[index]


@dataclass
class _Pending:
    key: object
    box: np.ndarray
    bounds: tuple[int, int, int, int]


class NlfBatcher:
    """Writes masked frames into one reused batch buffer (as SCAIL-Pose does) and runs NLF 64 at
    a time; ``done(key, joints or None)`` is called for every box in submission order, so the
    frames are never all held in memory."""

    def __init__(self, model, device: str, done: Callable[[object, np.ndarray | None], None],
                 batch: int = BATCH) -> None:
        self.model, self.device, self.done, self.batch = model, device, done, batch
        self._buffer: np.ndarray | None = None
        self._pending: list[_Pending] = []

    def add(self, key: object, rgb: np.ndarray, box: np.ndarray) -> None:
        if self._buffer is None or self._buffer.shape[1:] != rgb.shape:
            self._buffer = np.zeros((self.batch, *rgb.shape), np.uint8)
        x1, y1, x2, y2 = mask_bounds(box, *rgb.shape[:2])
        self._buffer[len(self._pending), y1:y2, x1:x2] = rgb[y1:y2, x1:x2]
        self._pending.append(_Pending(key, np.asarray(box, np.float64), (x1, y1, x2, y2)))
        if len(self._pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        import torch

        assert self._buffer is not None
        with torch.inference_mode():
            images = torch.from_numpy(self._buffer[:len(self._pending)]).permute(0, 3, 1, 2).to(self.device)
            pred = self.model.detect_smpl_batched(images)
        joints = pred.get("joints3d_nonparam")
        boxes = pred.get("boxes")
        for i, item in enumerate(self._pending):
            found = None
            if joints is not None:
                j = joints[i].detach().cpu().numpy().reshape(-1, JOINTS, 3)
                b = boxes[i].detach().cpu().numpy().reshape(len(j), -1) if boxes is not None else None
                found = pick_detection(b, j, item.box)
            self.done(item.key, found)
            x1, y1, x2, y2 = item.bounds
            self._buffer[i, y1:y2, x1:x2] = 0
        self._pending.clear()


def load_nlf(path: Path, device: str):
    """The NLF torchscript model in eval mode on ``device``."""
    try:
        import torch
    except ImportError as exc:
        raise InputError("Pose extraction needs torch: pip install 'scail-blender[engine]'") from exc
    try:
        # NLF ships only as TorchScript, so jit.load is the one way in; its deprecation notice
        # would only tell users about a choice that is not theirs.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=DeprecationWarning)
            model = torch.jit.load(str(path), map_location=device).eval()
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"{path.name} is not a loadable NLF torchscript file ({exc}); download it again") from exc
    if not hasattr(model, "detect_smpl_batched"):
        raise InputError(f"{path.name} has no detect_smpl_batched; it is not the NLF multi-person model")
    return model
