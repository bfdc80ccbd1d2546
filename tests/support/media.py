"""Inputs of tiny generation jobs: a noise pose video and a noise reference image.

The tiny checkpoint makes noise whatever it is given, so the pictures only need the sizes and
lengths a test is about; one seeded generator keeps every run's files identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from scail_blender.media.video import write_video


def write_job_media(folder: Path, *, frames: int = 5, size: tuple[int, int] = (64, 64),
                    ref_shape: tuple[int, int] = (64, 64), fps: float = 12, suffix: str = "") -> dict[str, Path]:
    """``pose{suffix}.mp4`` (``frames`` frames of ``size``, height x width) and ``ref{suffix}.png``
    (``ref_shape``) in ``folder``; returns both by stem."""
    rng = np.random.default_rng(0)
    pose = folder / f"pose{suffix}.mp4"
    ref = folder / f"ref{suffix}.png"
    write_video([(rng.random((*size, 3)) * 255).astype(np.uint8) for _ in range(frames)], pose, fps)
    Image.fromarray((rng.random((*ref_shape, 3)) * 255).astype(np.uint8)).save(ref)
    return {pose.stem: pose, ref.stem: ref}
