"""Inputs of tiny generation jobs: a noise pose video and a noise reference image.

The tiny checkpoint makes noise whatever it is given, so the pictures only need the sizes and
lengths a test is about; one seeded generator keeps every run's files identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from scail_blender.media.video import VideoWriter, write_video
from scail_blender.pose.identity import PALETTE


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


def _figures(folder: Path, colours: list[tuple[int, int, int]], background: tuple[int, int, int],
             name: str) -> np.ndarray:
    """A 64x64 mask with a 16-pixel-wide figure per colour, saved as ``name``.png."""
    mask = np.zeros((64, 64, 3), np.uint8)
    mask[:] = background
    for k, colour in enumerate(colours):
        mask[16:48, 4 + 20 * k:20 + 20 * k] = colour
    Image.fromarray(mask).save(folder / f"{name}.png")
    return mask


def write_scail2_media(folder: Path) -> dict[str, str]:
    """A SCAIL-2 job's files for two people (blue left, red right), 64x64, 5 frames at 16 fps, by
    stem: ``pose``, ``mask`` (lossless driving mask on black), ``ref``, ``ref_mask`` (on white),
    ``one_mask`` (only blue), and two extra views ``side``/``back`` with ``side_mask`` (red left)
    and ``back_mask``."""
    rng = np.random.default_rng(3)
    write_video([(rng.random((64, 64, 3)) * 255).astype(np.uint8) for _ in range(5)], folder / "pose.mp4", 16)
    drive = _figures(folder, [PALETTE[0], PALETTE[1]], (0, 0, 0), "drive")
    with VideoWriter(folder / "mask.mp4", 16, (64, 64), lossless=True) as writer:
        for _ in range(5):
            writer.write(drive)
    _figures(folder, [PALETTE[0], PALETTE[1]], (255, 255, 255), "ref_mask")
    _figures(folder, [PALETTE[0]], (255, 255, 255), "one_mask")
    _figures(folder, [PALETTE[1], PALETTE[0]], (255, 255, 255), "side_mask")
    _figures(folder, [PALETTE[0], PALETTE[1]], (255, 255, 255), "back_mask")
    for name in ("ref", "side", "back"):
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(folder / f"{name}.png")
    return {p.stem: str(p) for p in folder.iterdir()}
