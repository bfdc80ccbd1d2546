"""Reference image, pose video and masks to model-ready tensors, as the official scripts prepare them.

- Resize keeping the aspect ratio so the target box is covered (bicubic, antialiased like
  torchvision's tensor resize), then centre-crop to the target size.
- Pose frames are resized as uint8 (rounded), then mapped to [-1, 1]; the reference image is
  mapped to [-1, 1] first and resized as floats (so it may overshoot slightly, as upstream).
- The pose video is halved (bilinear, align_corners False) before VAE encoding.
- Clips are cut to 1 + 4k frames, the lengths the causal VAE encodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..errors import InputError
from ..pose.framing import MODEL_SIZE
from ..jobs.contract import WINDOW_FRAMES

HISTORY_FRAMES = 5  # SCAIL-2: the last 5 decoded frames seed the next window (2 latent frames)
WINDOW_STRIDE = WINDOW_FRAMES - HISTORY_FRAMES
MASK_ON = (225.0 - 127.5) / 127.5
# Colour maps of SCAIL-2 masks, in channel order: (R, G, B) on/off.
MASK_COLOURS = ((1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1))


def load_image(path: str | Path, what: str = "reference image") -> np.ndarray:
    """RGB uint8 [H, W, 3]; alpha and palette images are converted."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist; give the path of a PNG or JPEG") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{what} {path} is not a readable image ({exc}); save it as PNG or JPEG") from exc
    except Image.DecompressionBombError as exc:  # a tiny file that decodes to gigabytes
        raise InputError(f"{what} {path} is too large ({exc}); scale it down to a few megapixels") from exc


def auto_size(image: np.ndarray) -> tuple[int, int]:
    """(height, width): 896 x 512 for a portrait reference, else 512 x 896.

    The wan-branch generate.py swaps its 512 x 896 default only when the image is taller than
    wide, so a square reference stays landscape (SAT's script would make it portrait).
    """
    h, w = image.shape[:2]
    return MODEL_SIZE[::-1] if h > w else MODEL_SIZE


def resize_crop(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, *size]: cover the box, then take its centre. uint8 stays uint8."""
    th, tw = size
    h, w = frames.shape[-2:]
    if w / h > tw / th:
        new = (th, int(w * th / h))
    else:
        new = (int(h * tw / w), tw)
    out = F.interpolate(frames.float(), size=new, mode="bicubic", align_corners=False, antialias=True)
    if frames.dtype == torch.uint8:
        out = out.round().clamp(0, 255).to(torch.uint8)
    top, left = (new[0] - th) // 2, (new[1] - tw) // 2
    return out[..., top:top + th, left:left + tw]


def reference_tensor(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """[3, H, W] in [-1, 1] (about: bicubic may overshoot)."""
    x = torch.from_numpy(image).permute(2, 0, 1).float().div(255).mul(2).sub(1)
    return resize_crop(x[None], size)[0]


def usable_frames(count: int, max_frames: int | None) -> int:
    """Frames used of a clip: at most ``max_frames``, cut down to 1 + 4k."""
    if max_frames is not None:
        count = min(count, max_frames)
    if count < 1:
        raise InputError("the pose video has no frames; render or export it again")
    return (count - 1) // 4 * 4 + 1


def pose_tensor(frames: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """[T, 3, H, W] in [-1, 1] at the target size (not yet halved)."""
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    return (resize_crop(x, size).float() - 127.5) / 127.5


def halve(frames: torch.Tensor) -> torch.Tensor:
    return F.interpolate(frames, scale_factor=0.5, mode="bilinear", align_corners=False)


def colour_mask_latent(frames: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    """SCAIL-2's 28-channel mask: [T, 3, H, W] in [-1, 1] -> [28, 1 + (T-1)/4, h, w].

    Seven binary colour maps (a channel is on above 225), area-averaged to the latent grid, then
    four frames per latent frame packed as channel = subframe * 7 + colour, the first frame
    repeated four times as the causal VAE treats it.
    """
    on = (frames > MASK_ON).float()
    maps = []
    for colour in MASK_COLOURS:
        m = torch.ones_like(on[:, 0])
        for channel, wanted in enumerate(colour):
            m = m * (on[:, channel] if wanted else 1 - on[:, channel])
        maps.append(m)
    binary = F.interpolate(torch.stack(maps, dim=1), size=latent_hw, mode="area")
    padded = torch.cat([binary[:1].repeat(4, 1, 1, 1), binary[1:]], dim=0)
    return padded.reshape(-1, 4 * len(MASK_COLOURS), *latent_hw).permute(1, 0, 2, 3)


@dataclass(frozen=True)
class Window:
    """Frames [start, stop) of the clip; ``history`` frames at its start come from the window before."""

    start: int
    stop: int
    history: int

    @property
    def frames(self) -> int:
        return self.stop - self.start


def plan_windows(frames: int) -> list[Window]:
    """Cut a 1 + 4k frame clip into windows of at most 81 frames, each starting 76 after the last.

    Consecutive windows share 5 frames (2 latent frames). Every start is a multiple of 4, so
    every window is again 1 + 4k frames long; the last one ends exactly at the clip's end rather
    than dropping the remainder.
    """
    windows = [Window(0, min(frames, WINDOW_FRAMES), 0)]
    while windows[-1].stop < frames:
        start = windows[-1].start + WINDOW_STRIDE
        windows.append(Window(start, min(start + WINDOW_FRAMES, frames), HISTORY_FRAMES))
    return windows


def crossfade(previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Blend overlapping frames [C, N, H, W] linearly from the previous window into the current one."""
    n = previous.shape[1]
    weight = torch.arange(1, n + 1, dtype=previous.dtype, device=previous.device).div(n + 1).view(1, n, 1, 1)
    return previous * (1 - weight) + current * weight
