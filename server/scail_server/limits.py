"""The limit a job must fit on this server's device, checked before it is queued.

The job contract holds the limits that hold anywhere (a side of at most 4096 pixels, at most 1000
steps). What a device can take is the clip's size times its length: the pipeline keeps the whole
decoded clip on the device in float32 while it joins the windows and converts them to 8 bits
(about 48 bytes per pixel of every frame at the peak), on top of the model. So a job's
height x width x frames ("pixel-frames") may use at most half the device's memory at that rate:
about 890 million on an 80 GB GPU (1950 frames at 512x896), unless ``scail serve
--max-pixels-frames`` sets the limit.
"""

from __future__ import annotations

import os

from scail_blender.errors import OverLimit
from scail_blender.pose.framing import MODEL_SIZE, size_text

BYTES_PER_PIXEL_FRAME = 48
# Ray actors' devices are not known to the server: their default assumes 80 GB GPUs.
RAY_DEVICE_BYTES = 80 * 2**30


def max_pixels_frames(setting: int | None, device: str | None, ray: bool) -> int:
    """``setting`` where given, else half of the device's memory at ``BYTES_PER_PIXEL_FRAME``."""
    if setting is not None:
        return setting
    memory = RAY_DEVICE_BYTES if ray else device_memory(device or "cpu")
    return memory // 2 // BYTES_PER_PIXEL_FRAME


def device_memory(device: str) -> int:
    """Total bytes of a CUDA device, else of this machine's memory (where a CPU job's tensors are)."""
    if device.startswith("cuda"):
        import torch  # the server runs jobs with it: loaded by now

        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_pixels_frames(size: tuple[int, int], frames: int, limit: int) -> None:
    """Refuse a job of more pixel-frames than ``limit``, naming the longest clip at its size and at SCAIL's."""
    asked = size[0] * size[1] * frames
    if asked <= limit:
        return
    at_size = limit // (size[0] * size[1])
    at_model = limit // (MODEL_SIZE[0] * MODEL_SIZE[1])
    raise OverLimit(f"the job is {size_text(size)} x {frames} frames = {asked} pixel-frames; this server takes at "
                    f"most {limit} (scail serve --max-pixels-frames): {at_size} frames at this size, {at_model} at "
                    f"512x896. Use fewer frames (settings.max_frames, --max-frames) or a smaller size")
