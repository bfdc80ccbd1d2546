"""Image sizes SCAIL takes, and how a camera follows a resize.

The model needs sizes that are multiples of 32 (latents are 1/8, tokens 1/16, and the pose video
is halved once more). Previews may use any size, so sizes are checked and the nearest valid one
is suggested rather than forced. When a picture is resized to another size, SCAIL's
preprocessing scales it to cover the target and crops the centre; ``cover_crop`` moves the
pinhole camera the same way so a render at the new size shows what the resized video would.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .camera import Intrinsics

MODEL_MULTIPLE = 32
# The releases' size, height then width (landscape); portrait is the same swapped.
MODEL_SIZE = (512, 896)
MAX_SIDE = 4096


def pose_size_for(height: int, width: int) -> tuple[int, int]:
    """The size SCAIL-Pose extracts and renders a video of this shape at: 512x896 when it is wider
    than tall, else 896x512 (a square video counts as portrait, as in its process_pose.py)."""
    return MODEL_SIZE if height < width else MODEL_SIZE[::-1]


def size_text(size: tuple[int, int]) -> str:
    """How a size reads to a person, order spelled out: (512, 896) -> '512 high x 896 wide'."""
    return f"{size[0]} high x {size[1]} wide"


def parse_size(text: str) -> tuple[int, int]:
    """'512x896' -> (512, 896) as (height, width)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"Size {text!r} is not HxW, height x width, e.g. 512x896 (512 high x 896 wide)") from None
    check_size((height, width))
    return height, width


def check_size(size: tuple[int, int]) -> None:
    height, width = size
    if not (16 <= height <= MAX_SIDE and 16 <= width <= MAX_SIDE):
        raise InputError(f"Size {size_text(size)} is outside 16..{MAX_SIDE} pixels per side; SCAIL uses 512x896 "
                         "(512 high x 896 wide) or 896x512")


def require_model_size(size: tuple[int, int]) -> tuple[int, int]:
    """``size`` if SCAIL can take it; otherwise an InputError naming the nearest size it takes."""
    check_size(size)
    if not is_model_size(size):
        near = nearest_model_size(size)
        raise InputError(f"Pose video size {size_text(size)} is not usable: SCAIL needs both sides in "
                         f"multiples of {MODEL_MULTIPLE}; the nearest is {near[0]}x{near[1]} ({size_text(near)}).")
    return size


def nearest_model_size(size: tuple[int, int]) -> tuple[int, int]:
    """The closest size whose sides are multiples of 32 (never zero)."""
    return tuple(max(MODEL_MULTIPLE, round(side / MODEL_MULTIPLE) * MODEL_MULTIPLE) for side in size)  # type: ignore[return-value]


def is_model_size(size: tuple[int, int]) -> bool:
    return all(side % MODEL_MULTIPLE == 0 for side in size)


def cover_crop(intrinsics: Intrinsics, source: tuple[int, int], target: tuple[int, int]) -> Intrinsics:
    """Intrinsics after scaling a ``source`` image to cover ``target`` and cropping its centre."""
    (src_h, src_w), (dst_h, dst_w) = source, target
    scale = max(dst_h / src_h, dst_w / src_w)
    resized = intrinsics.scaled(scale, scale)
    return Intrinsics(resized.fx, resized.fy, resized.cx - (src_w * scale - dst_w) / 2,
                      resized.cy - (src_h * scale - dst_h) / 2)


def cover_crop_points(points: np.ndarray, source: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    """Pixels [..., 2+] (x, y, anything else kept) of a ``source`` image after the same resize and
    centre crop as ``cover_crop``: detected 2D points move exactly as the camera does."""
    (src_h, src_w), (dst_h, dst_w) = source, target
    scale = max(dst_h / src_h, dst_w / src_w)
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., 0] = out[..., 0] * scale - (src_w * scale - dst_w) / 2
    out[..., 1] = out[..., 1] * scale - (src_h * scale - dst_h) / 2
    return out
