"""Every check of a job's values and files that needs no model.

The pipeline runs it first, and the server runs it on uploads before queueing, so a bad file is
refused at once instead of after minutes of loading.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..jobs.contract import Job
from ..media.video import VideoInfo, probe_video, read_video
from ..pose.framing import size_text
from ..pose.reference_mask import check_people_match, people_in_frames, people_in_mask
from . import preprocess as pre

# A pose video whose shape differs more than this from the output would lose limbs to the crop.
ASPECT_TOLERANCE = 0.05


@dataclass(frozen=True)
class CheckedInputs:
    image: np.ndarray
    video: VideoInfo
    size: tuple[int, int]  # output height, width
    frames: int  # pose frames the job uses


def check_inputs(job: Job) -> CheckedInputs:
    """Every check of a job's values and files that needs no model: the pipeline runs it first,
    and the server runs it on uploads before queueing, so a bad file is refused at once."""
    job.validate()
    s, inputs = job.settings, job.inputs
    image = pre.load_image(inputs.reference_image)
    info = probe_video(inputs.pose_video)
    size = (s.height, s.width) if s.height is not None else pre.auto_size(image)
    _check_pose_video(info.width, info.height, info.frames, size)
    frames_used = pre.usable_frames(info.frames, s.max_frames)
    if frames_used < 5:
        raise InputError(f"the pose video has {info.frames} frames, SCAIL needs at least 5 (one latent step); "
                         "render a longer pose video" + (" or raise --max-frames" if s.max_frames else ""))
    reference_mask = pre.load_image(inputs.reference_mask, "reference mask") if inputs.reference_mask else None
    if inputs.pose_mask:
        mask = probe_video(inputs.pose_mask)
        _check_pose_video(mask.width, mask.height, mask.frames, size, "pose mask")
        if mask.frames < frames_used:
            raise InputError(f"the pose mask has {mask.frames} frames but {frames_used} pose frames are used; "
                             "give a mask video with one frame per pose frame")
        if reference_mask is not None:
            check_people_match(people_in_mask(reference_mask), people_in_frames(first_frames(inputs.pose_mask,
                                                                                             frames_used)))
    for k, (extra, extra_mask) in enumerate(zip(inputs.extra_references, inputs.extra_reference_masks)):
        pre.load_image(extra, f"extra reference {k + 1}")
        pre.load_image(extra_mask, f"extra reference mask {k + 1}")
    return CheckedInputs(image=image, video=info, size=size, frames=frames_used)


def first_frames(path: str, count: int) -> Iterator[np.ndarray]:
    """The first ``count`` frames of a video, read one at a time."""
    for index, frame in enumerate(read_video(path)):
        if index >= count:
            return
        yield frame


def _check_pose_video(width: int, height: int, frames: int, size: tuple[int, int], what: str = "pose video") -> None:
    ratio, target = width / height, size[1] / size[0]
    if abs(ratio / target - 1) > ASPECT_TOLERANCE:
        raise InputError(
            f"the {what} is {size_text((height, width))} but the output is {size_text(size)}; the centre crop "
            f"would cut the skeleton off: render the {what} at the output size (scail render-pose --size "
            f"{size[0]}x{size[1]}) or give generate --size {height}x{width} (height x width, multiples of 32)")
