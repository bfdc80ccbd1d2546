"""Tiny stand-ins for the three official networks, and a synthetic video they understand.

Tests and the benchmark need the whole pipeline without the licensed weights (hundreds of MB).
The stand-ins keep the official interfaces (YOLOX: input ``images`` [1, 3, 640, 640] raw BGR,
output ``output`` [1, 8400, 85]; DWPose: input ``input`` [1, 3, 384, 288] normalised BGR,
outputs ``simcc_x`` [1, 133, 576] and ``simcc_y`` [1, 133, 768]; NLF: a torchscript module with
``detect_smpl_batched(uint8 N x 3 x H x W)`` returning a dict of per-image lists) and compute
answers from the picture that a test can predict: people are flat rectangles of pure red, green
or blue on black, and each network measures the rectangle of its colour.

- YOLOX: one box per colour present (pixel extent in the 640 canvas), plus a near-duplicate of
  the red box (NMS must remove it), a box scoring 0.2 (the 0.3 threshold must drop it) and a
  box of another class (must be ignored).
- DWPose: the rectangle of the colour at the crop centre; keypoint k sits at the fixed fraction
  ``LAYOUT[k]`` of it, SimCC peaks at twice that position with height ``CONFIDENCE[k]``.
- NLF: per colour a detection, green first (so "detection 0" is the wrong person when a green
  person reaches into a red person's box): an SMPL rest skeleton centred on the ray through the
  rectangle's centre at the colour's depth ``DEPTHS_MM``.
"""

from __future__ import annotations

import logging
import warnings
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..motion.smpl import REST_JOINTS
from .weights import DWPOSE_FILE, NLF_FILE, YOLOX_FILE

log = logging.getLogger(__name__)

COLORS_RGB = ((230, 30, 30), (30, 230, 30), (30, 30, 230))  # person colours: red, green, blue
DEPTHS_MM = (5000.0, 3000.0, 6000.0)
YOLOX_SCORES = (0.95, 0.93, 0.9)  # red, green, blue
OPSET = 17


def _layout() -> tuple[np.ndarray, np.ndarray]:
    """Fractions (x, y) of the person rectangle for the 133 keypoints, and their confidences."""
    body = [(0.5, 0.06), (0.55, 0.05), (0.45, 0.05), (0.6, 0.07), (0.4, 0.07), (0.7, 0.2), (0.3, 0.2),
            (0.8, 0.35), (0.2, 0.35), (0.85, 0.5), (0.15, 0.5), (0.62, 0.55), (0.38, 0.55), (0.62, 0.75),
            (0.38, 0.75), (0.62, 0.95), (0.38, 0.95)]
    feet = [(0.6 + 0.02 * i, 0.97) for i in range(3)] + [(0.4 - 0.02 * i, 0.97) for i in range(3)]
    face = [(0.5 + 0.06 * math.cos(a), 0.07 + 0.03 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 68, endpoint=False)]
    left = [(0.85 + 0.01 * (i % 5), 0.5 + 0.004 * i) for i in range(21)]
    right = [(0.15 - 0.01 * (i % 5), 0.5 + 0.004 * i) for i in range(21)]
    layout = np.array(body + feet + face + left + right, np.float32)
    confidence = np.full(133, 0.9, np.float32)
    confidence[23] = 0.2          # one face point below the drawing threshold
    confidence[129:133] = 0.1     # the right little finger: not seen
    return layout, confidence


LAYOUT, CONFIDENCE = _layout()


# ---- the synthetic scene ----

@dataclass(frozen=True)
class Scene:
    """People as rectangles (x1, y1, x2, y2, end exclusive) per frame, drawn in list order."""

    size: tuple[int, int]
    rects: list[list[tuple[int, int, int, int] | None]]  # [person][frame]
    fps: float = 16.0

    @property
    def frames(self) -> int:
        return len(self.rects[0])

    def frame(self, t: int) -> np.ndarray:
        image = np.zeros((*self.size, 3), np.uint8)
        for person, rects in enumerate(self.rects):
            if rects[t] is not None:
                x1, y1, x2, y2 = rects[t]
                image[y1:y2, x1:x2] = COLORS_RGB[person]
        return image

    def visible(self, person: int, t: int) -> tuple[int, int, int, int] | None:
        """Pixel extent (x1, y1, x2, y2, end exclusive) of what is seen of ``person`` in frame t."""
        mask = np.all(self.frame(t) == COLORS_RGB[person], axis=-1)
        if not mask.any():
            return None
        ys, xs = np.nonzero(mask)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1

    def video(self) -> Iterator[np.ndarray]:
        for t in range(self.frames):
            yield self.frame(t)


def crossing_scene(frames: int = 24, size: tuple[int, int] = (256, 448)) -> Scene:
    """Red walks right; green, in front, walks left across red, leaves at the left edge for four
    frames and comes back; blue shows up small in the top right for the last four frames."""
    red, green, blue = [], [], []
    for t in range(frames):
        x = 30 + 14 * t
        red.append((x, 40, x + 40, 200))
        if t <= 12:
            x = 390 - 30 * t
        elif t >= 17:
            x = 10 + 20 * (t - 17)
        green.append(None if 13 <= t <= 16 else (x, 80, x + 44, 250))
        blue.append((380, 10, 410, 70) if t >= frames - 4 else None)
    return Scene(size, [red, green, blue])


def write_scene(scene: Scene, path: Path) -> Path:
    """The scene as a real H.264 mp4 (near-lossless, so colours survive)."""
    from ..media.video import VideoWriter

    with VideoWriter(path, scene.fps, scene.size, crf=4) as video:
        for frame in scene.video():
            video.write(frame)
    return path


def nlf_centre(box: tuple[float, float, float, float], depth: float, size: tuple[int, int]) -> np.ndarray:
    """Where the tiny NLF puts a person's joint centre (mm) for a pixel box (x1, y1, x2, y2)."""
    height, width = size
    focal = max(height, width) / (2 * math.tan(math.radians(27.5)))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return np.array([(cx - width / 2) / focal * depth, (cy - height / 2) / focal * depth, depth])


# ---- the stand-in networks ----

def write_tiny_weights(folder: Path) -> Path:
    """All three stand-ins in SCAIL-Pose's ``pretrained_weights`` layout."""
    (folder / "DWPose").mkdir(parents=True, exist_ok=True)
    write_tiny_yolox(folder / YOLOX_FILE)
    write_tiny_dwpose(folder / DWPOSE_FILE)
    write_tiny_nlf(folder / NLF_FILE)
    return folder


class _Graph:
    """A few helpers over onnx.helper for building the stand-in graphs."""

    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list = []
        self.inits: list = []
        self._n = 0

    def name(self) -> str:
        self._n += 1
        return f"t{self._n}"

    def const(self, value, dtype=np.float32) -> str:
        from onnx import numpy_helper

        name = self.name()
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, kind: str, *inputs: str, **attrs) -> str:
        out = self.name()
        self.nodes.append(self.helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def bbox(self, mask: str, width: int, height: int) -> tuple[str, str, str, str, str]:
        """x1, y1, x2, y2 (end exclusive) and presence (1 or 0) of a bool mask [1, H, W]."""
        m = self.op("Cast", mask, to=1)
        cols = self.op("ReduceMax", m, axes=[0, 1], keepdims=0)
        rows = self.op("ReduceMax", m, axes=[0, 2], keepdims=0)
        present = self.op("ReduceMax", cols, keepdims=0)
        out = []
        for profile, n in ((cols, width), (rows, height)):
            on = self.op("Greater", profile, self.const(0.5))
            index = self.const(np.arange(n))
            lo = self.op("ReduceMin", self.op("Where", on, index, self.const(1e4)), keepdims=0)
            hi = self.op("ReduceMax", self.op("Where", on, index, self.const(-1.0)), keepdims=0)
            out.append((lo, self.op("Add", hi, self.const(1.0))))
        (x1, x2), (y1, y2) = out
        return x1, y1, x2, y2, present

    def save(self, path: Path, inputs: list, outputs: list) -> None:
        import onnx

        graph = self.helper.make_graph(self.nodes, "tiny", inputs, outputs, self.inits)
        model = self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))


def _colour_mask(g: _Graph, image: str, channel: int, high: float, low: float) -> str:
    """Pixels where ``channel`` is above ``high`` and both others below ``low`` ([1, H, W] bool)."""
    planes = [g.op("Gather", image, g.const(c, np.int64), axis=1) for c in range(3)]
    mask = g.op("Greater", planes[channel], g.const(high))
    for c in range(3):
        if c != channel:
            mask = g.op("And", mask, g.op("Less", planes[c], g.const(low)))
    return mask


def write_tiny_yolox(path: Path) -> None:
    from onnx import TensorProto

    g = _Graph()
    size, classes = 640, 80
    rows: list[str] = []

    def row(index: int, cx: str, cy: str, w: str, h: str, obj: str, cls: int = 0) -> None:
        stride = 8.0  # rows 0.. sit in the stride-8 grid at (index, 0)
        parts = [g.op("Sub", g.op("Div", cx, g.const(stride)), g.const(float(index))),
                 g.op("Div", cy, g.const(stride)),
                 g.op("Log", g.op("Div", g.op("Max", w, g.const(1.0)), g.const(stride))),
                 g.op("Log", g.op("Div", g.op("Max", h, g.const(1.0)), g.const(stride))), obj]
        onehot = np.zeros(classes, np.float32)
        onehot[cls] = 1.0
        flat = [g.op("Unsqueeze", p, g.const([0], np.int64)) for p in parts] + [g.const(onehot)]
        rows.append(g.op("Unsqueeze", g.op("Concat", *flat, axis=0), g.const([0], np.int64)))

    red_box = None
    for person, bgr_channel in enumerate((2, 1, 0)):
        x1, y1, x2, y2, present = g.bbox(_colour_mask(g, "images", bgr_channel, 180.0, 100.0), size, size)
        cx = g.op("Div", g.op("Add", x1, x2), g.const(2.0))
        cy = g.op("Div", g.op("Add", y1, y2), g.const(2.0))
        w, h = g.op("Sub", x2, x1), g.op("Sub", y2, y1)
        row(len(rows), cx, cy, w, h, g.op("Mul", present, g.const(YOLOX_SCORES[person])))
        if person == 0:
            red_box = (cx, cy, w, h, present)
    cx, cy, w, h, present = red_box
    row(len(rows), g.op("Add", cx, g.const(3.0)), cy, w, h, g.op("Mul", present, g.const(0.85)))
    row(len(rows), g.const(600.0), g.const(600.0), g.const(20.0), g.const(20.0), g.const(0.2))
    row(len(rows), g.const(500.0), g.const(100.0), g.const(60.0), g.const(60.0), g.const(0.9), cls=1)
    table = g.op("Concat", *rows, g.const(np.zeros((8400 - len(rows), 5 + classes))), axis=0)
    g.nodes.append(g.helper.make_node("Unsqueeze", [table, g.const([0], np.int64)], ["output"]))
    g.save(path, [g.helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
           [g.helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8400, 5 + classes])])


def write_tiny_dwpose(path: Path) -> None:
    from onnx import TensorProto

    g = _Graph()
    width, height = 288, 384
    centre = g.op("Slice", "input", g.const([height // 2, width // 2], np.int64),
                  g.const([height // 2 + 1, width // 2 + 1], np.int64), g.const([2, 3], np.int64))
    diff = g.op("ReduceSum", g.op("Abs", g.op("Sub", "input", centre)), g.const([1], np.int64), keepdims=0)
    x1, y1, x2, y2, _ = g.bbox(g.op("Less", diff, g.const(0.6)), width, height)
    outputs = []
    for lo, hi, frac, bins, name in ((x1, x2, LAYOUT[:, 0], 2 * width, "simcc_x"),
                                     (y1, y2, LAYOUT[:, 1], 2 * height, "simcc_y")):
        point = g.op("Add", lo, g.op("Mul", g.op("Sub", hi, lo), g.const(frac)))           # [133]
        peak = g.op("Unsqueeze", g.op("Mul", point, g.const(2.0)), g.const([1], np.int64))  # [133, 1]
        distance = g.op("Abs", g.op("Sub", g.const(np.arange(bins)[None]), peak))          # [133, bins]
        value = g.op("Sub", g.const(CONFIDENCE[:, None]), g.op("Mul", distance, g.const(0.01)))
        g.nodes.append(g.helper.make_node("Unsqueeze", [value, g.const([0], np.int64)], [name]))
        outputs.append(g.helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 133, bins]))
    g.save(path, [g.helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, height, width])], outputs)


def write_tiny_nlf(path: Path) -> None:
    import torch

    template = torch.tensor(REST_JOINTS * 1000.0 * np.array([1.0, -1.0, -1.0]), dtype=torch.float32)
    # A stand-in for the official TorchScript file must itself be TorchScript.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=DeprecationWarning)
        module = torch.jit.script(_tiny_nlf_class()(template - template.mean(0), torch.tensor(DEPTHS_MM)))
    path.parent.mkdir(parents=True, exist_ok=True)
    module.save(str(path))


def _tiny_nlf_class():
    import torch

    class TinyNlf(torch.nn.Module):
        """Measures each colour's rectangle and answers with a rest skeleton there."""

        def __init__(self, template: torch.Tensor, depths: torch.Tensor) -> None:
            super().__init__()
            self.register_buffer("template", template)
            self.register_buffer("depths", depths)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return images

        @torch.jit.export
        def detect_smpl_batched(self, images: torch.Tensor) -> dict[str, list[torch.Tensor]]:
            n, height, width = images.shape[0], images.shape[2], images.shape[3]
            focal = max(height, width) / (2.0 * math.tan(math.radians(27.5)))
            pixels = images.to(torch.int32)
            boxes: list[torch.Tensor] = []
            joints: list[torch.Tensor] = []
            poses: list[torch.Tensor] = []
            for i in range(n):
                found_boxes: list[torch.Tensor] = []
                found_joints: list[torch.Tensor] = []
                for c in [1, 0, 2]:
                    mask = (pixels[i, c] > 180) & (pixels[i, (c + 1) % 3] < 100) & (pixels[i, (c + 2) % 3] < 100)
                    where = torch.nonzero(mask)
                    if where.shape[0] > 0:
                        y1 = float(where[:, 0].min())
                        y2 = float(where[:, 0].max()) + 1.0
                        x1 = float(where[:, 1].min())
                        x2 = float(where[:, 1].max()) + 1.0
                        z = float(self.depths[c])
                        centre = torch.tensor([((x1 + x2) / 2 - width / 2) / focal * z,
                                               ((y1 + y2) / 2 - height / 2) / focal * z, z])
                        found_boxes.append(torch.tensor([x1, y1, x2 - x1, y2 - y1, 0.9]))
                        found_joints.append(self.template + centre)
                if len(found_boxes) > 0:
                    boxes.append(torch.stack(found_boxes))
                    joints.append(torch.stack(found_joints))
                else:
                    boxes.append(torch.zeros(0, 5))
                    joints.append(torch.zeros(0, 24, 3))
                poses.append(torch.zeros(len(found_boxes), 72))
            return {"boxes": boxes, "joints3d_nonparam": joints, "joints3d": joints, "pose": poses}

    return TinyNlf


