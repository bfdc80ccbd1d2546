"""The two image warps of the official detectors, in numpy.

SCAIL-Pose resizes frames for YOLOX with ``cv2.resize`` (INTER_LINEAR) and cuts the DWPose crops
with ``cv2.warpAffine`` (INTER_LINEAR, black border). OpenCV is not a dependency of the core (the
Blender extension does not ship it), so both are written here with OpenCV's sampling rules:
pixel centres at integers, half-pixel offsets when resizing, edge clamping when resizing, source
positions rounded to 1/32 pixel in OpenCV's fixed-point steps and a zero border when warping. The tests compare them with
OpenCV itself (within one grey level).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

WARP_BITS = 5    # OpenCV's INTER_BITS: source positions are rounded to 1/32 pixel...
WARP_STEPS = 1 << WARP_BITS
FIXED_BITS = 10  # ...from sums of terms each rounded to 1/1024 pixel (AB_BITS)
FIXED_STEPS = 1 << FIXED_BITS


def resize_linear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` [H, W, C] uint8 resized to ``size`` (height, width) as cv2.INTER_LINEAR does."""
    rows, row_w = _axis(image.shape[0], size[0])
    cols, col_w = _axis(image.shape[1], size[1])
    return _bilinear(image, rows, np.stack([1 - row_w, row_w], axis=1), cols, np.stack([1 - col_w, col_w], axis=1))


def _bilinear(image: np.ndarray, rows: np.ndarray, row_w: np.ndarray, cols: np.ndarray, col_w: np.ndarray) -> np.ndarray:
    """Separable bilinear sampling: index pairs [n, 2] and weights [n, 2] per axis. Only the
    band of the source that the indices reach is read, rows first, then columns."""
    r0, c0 = int(rows.min()), int(cols.min())
    band = image[r0:int(rows.max()) + 1, c0:int(cols.max()) + 1]
    rows, cols = rows - r0, cols - c0
    channels = image.shape[2]
    row_w = row_w.astype(np.float32)
    mixed = band[rows[:, 0]] * row_w[:, 0, None, None] + band[rows[:, 1]] * row_w[:, 1, None, None]
    flat = mixed.reshape(len(rows), -1)
    col_w = np.repeat(col_w.astype(np.float32), channels, axis=0)
    taps = cols[:, None, :] * channels + np.arange(channels)[None, :, None]   # [n, C, 2]
    out = (np.take(flat, taps[..., 0].ravel(), axis=1) * col_w[:, 0]
           + np.take(flat, taps[..., 1].ravel(), axis=1) * col_w[:, 1])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(len(rows), len(cols), channels)


def _axis(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Source index pairs and weights along one axis, OpenCV's rule for INTER_LINEAR."""
    pos = (np.arange(dst) + 0.5) * (src / dst) - 0.5
    lo = np.floor(pos).astype(np.int64)
    frac = (pos - lo).astype(np.float32)
    frac[lo < 0] = 0.0
    lo[lo < 0] = 0
    last = lo >= src - 1
    frac[last] = 0.0
    lo[last] = src - 1
    return np.stack([lo, np.minimum(lo + 1, src - 1)], axis=1), frac


def warp_affine(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` [H, W, C] uint8 warped by the 2x3 ``matrix`` (source to destination) into
    ``size`` (height, width), bilinear, black outside, as cv2.warpAffine does.

    Only axis-aligned matrices (zoom and shift, no rotation or shear) are taken: the top-down
    crops never rotate, and then the bilinear weights separate into rows and columns, which
    makes a crop a few milliseconds.
    """
    m = np.asarray(matrix, np.float64)
    if m[0, 1] != 0 or m[1, 0] != 0:
        raise ValueError("warp_affine takes axis-aligned matrices only (no rotation or shear)")
    height, width = size
    ys, y_w, y_in = _taps(m[1, 1], m[1, 2], height, image.shape[0], columns=False)
    xs, x_w, x_in = _taps(m[0, 0], m[0, 2], width, image.shape[1], columns=True)
    return _bilinear(image, ys, y_w * y_in, xs, x_w * x_in)


def _taps(zoom: float, shift: float, dst: int, src: int, columns: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per destination pixel along one axis: the two source indices (clipped), their weights
    and whether each lies inside the image. The source position is rounded as OpenCV does it:
    to 1/1024 pixel (per term along a row: the column term and the row's start are rounded
    apart; as a whole down the rows), then to 1/32 pixel."""
    scale, offset = 1.0 / zoom, -shift / zoom  # the inverse map, source = scale * dst + offset
    steps = np.arange(dst)
    if columns:
        fixed = np.rint(scale * steps * FIXED_STEPS).astype(np.int64) + int(np.rint(offset * FIXED_STEPS))
    else:
        fixed = np.rint((scale * steps + offset) * FIXED_STEPS).astype(np.int64)
    q = (fixed + FIXED_STEPS // WARP_STEPS // 2) >> (FIXED_BITS - WARP_BITS)
    lo = q >> WARP_BITS
    frac = ((q & (WARP_STEPS - 1)) / WARP_STEPS).astype(np.float32)
    index = np.stack([lo, lo + 1], axis=1)
    weight = np.stack([1 - frac, frac], axis=1)
    inside = ((index >= 0) & (index < src)).astype(np.float32)
    return np.clip(index, 0, src - 1), weight, inside


def cover_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to cover ``size`` (height, width) and centre-cropped, as SCAIL-Pose
    prepares its driving frames and reference image: bicubic with antialiasing (PIL's, which
    torchvision's antialiased resize follows), the covering side exact and the other truncated
    to an integer, then the centre, rounding the offsets down."""
    from PIL import Image

    height, width = size
    src_h, src_w = image.shape[:2]
    if (src_h, src_w) == (height, width):
        return image
    if src_w / src_h > width / height:
        new_h, new_w = height, int(src_w * height / src_h)
    else:
        new_h, new_w = int(src_h * width / src_w), width
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BICUBIC))
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return resized[top:top + height, left:left + width]
