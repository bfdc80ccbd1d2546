"""Footage as SCAIL-2's driving video (end-to-end driving, and the plate of replacement mode),
blacked out outside the people of its driving mask, as SCAIL-2's end-to-end preprocessing offers.

Which pixels are people is read the way the model reads the mask: a pixel whose channels are
above 225 in exactly one or two of R, G, B is one of the identity colours; black (animation
mode's background) and white (replacement mode's) are not. So the same call serves both modes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from ..errors import InputError
from ..media.video import VideoWriter, probe_video, read_video

# The model's own class threshold per channel (engine.preprocess.colour_mask_latent).
THRESHOLD = 225


def people_pixels(mask: np.ndarray) -> np.ndarray:
    """``[H, W]`` bool: the pixels of an RGB mask frame that show one of the identity colours."""
    on = (np.asarray(mask)[..., :3] > THRESHOLD).sum(axis=-1)
    return (on >= 1) & (on <= 2)


def black_out_frames(footage: Iterable[np.ndarray], masks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Each footage frame with everything outside its mask frame's people set to black."""
    for frame, mask in zip(footage, masks, strict=True):
        yield np.where(people_pixels(mask)[..., None], frame, 0).astype(np.uint8)


def black_out_video(footage: str | os.PathLike, mask: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write ``footage`` blacked out outside the people of the driving ``mask`` to ``out`` (H.264,
    the footage's rate); returns the frame count. The two must be the same clip: the same size,
    rate and number of frames (the mask rendered from the scene the footage was rendered from,
    over the same frames), else nothing is written."""
    video, drive = probe_video(footage), probe_video(mask)
    if (video.height, video.width) != (drive.height, drive.width):
        raise InputError(f"the footage {footage} is {video.height}x{video.width} but the mask {mask} "
                         f"{drive.height}x{drive.width}: render both at the same size (height x width)")
    if abs(video.fps - drive.fps) > 1e-3 or video.frames != drive.frames:
        raise InputError(f"the footage {footage} has {video.frames} frames at {video.fps:g} fps but the mask {mask} "
                         f"{drive.frames} at {drive.fps:g} fps: render the mask over the footage's frames at its "
                         "rate (scail render-pose --fps, --frame-range)")
    with VideoWriter(out, video.fps, (video.height, video.width)) as writer:
        for frame in black_out_frames(read_video(footage), read_video(mask)):
            writer.write(frame)
    return video.frames
