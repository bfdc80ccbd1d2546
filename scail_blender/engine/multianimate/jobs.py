"""MultiAnimate behind the one job contract: a ``Job``'s files in, its mp4 out.

The runner hands every generation job to the pipeline its factory made from the checkpoint
(``engine.load_pipeline``); for a MultiAnimate folder that is this one. It checks the job for the
model before anything loads (``check_model``), fills unset sampling settings with MultiAnimate's
official values, reads the files (reference image, skeleton video, one mask video per character
in identity order, the reference's skeleton image) and writes the video at the skeleton video's
frame rate, as the SCAIL pipeline does.

The Wan2.1-I2V base the MultiAnimate folder is merged into is ``base`` when given (``scail
generate --components``), else the one Wan2.1-I2V-14B release folder beside the checkpoint
folder (``find_wan_base``), so the server and Blender, which know one checkpoint path, find it too.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import torch

from ...errors import CheckpointError, InputError, OutOfMemory
from ...jobs.contract import Job, JobResult
from ...jobs.model_inputs import check_model
from ...jobs.sampling import resolve_settings
from ...media.video import VideoWriter, probe_video, read_video
from ...progress import Progress, ProgressCallback, check_cancel
from ..devices import Dtypes
from ..preprocess import load_image, usable_frames
from ..speed import Speed
from .checkpoint import WAN_INDEX
from .guidance import FRAMES, HEIGHT, WIDTH
from .pipeline import MultiAnimateInputs, MultiAnimatePipeline, MultiAnimateSettings


def find_wan_base(checkpoint: str | Path) -> Path:
    """The Wan2.1-I2V-14B release folder beside a MultiAnimate checkpoint folder (a sibling folder
    holding its ``diffusion_pytorch_model.safetensors.index.json``); exactly one must be there."""
    checkpoint = Path(checkpoint).resolve()
    found = sorted(d for d in checkpoint.parent.iterdir() if d.is_dir() and d != checkpoint
                   and (d / WAN_INDEX).is_file())
    if len(found) != 1:
        what = "none" if not found else ", ".join(d.name for d in found)
        raise CheckpointError(f"MultiAnimate needs the Wan2.1-I2V-14B-720P release folder as its base; looked for "
                              f"one beside {checkpoint} and found {what}: keep exactly one there, or give it with "
                              "scail generate --components DIR")
    return found[0]


class MultiAnimateJobPipeline:
    """The runner's pipeline for a MultiAnimate checkpoint folder (``loaded``, ``generate``, ``release``)."""

    model = "multianimate"

    def __init__(self, checkpoint: str | Path, device: str | torch.device | None = None, *,
                 base: str | Path | None = None, dtypes: Dtypes | None = None) -> None:
        base = Path(base) if base is not None else find_wan_base(checkpoint)
        self.engine = MultiAnimatePipeline(base, checkpoint, device, dtypes)

    @property
    def loaded(self) -> bool:
        return self.engine.loaded

    def release(self) -> None:
        self.engine.release()

    def generate(self, job: Job, on_progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> JobResult:
        """Run ``job``; the output file appears only when the whole video was written."""
        started = time.monotonic()
        report = on_progress or (lambda event: None)
        job.validate()
        check_model(job, self.model)  # before anything is read or loaded
        s = resolve_settings(job.settings, self.model)
        if s.sampler != "euler":
            raise InputError(f"settings.sampler {s.sampler}: MultiAnimate samples with flow-match Euler, as it was "
                             "trained; drop the sampler setting or give euler")
        inputs, fps = read_inputs(job)
        size = (s.height, s.width) if s.height is not None else (HEIGHT, WIDTH)
        settings = MultiAnimateSettings(size=size, steps=s.steps, cfg=s.cfg, shift=s.shift, seed=s.seed,
                                        max_frames=s.max_frames or FRAMES,
                                        speed=Speed.from_settings(s, job.inputs.lora_files, self.engine.device))
        try:
            video = self.engine.generate(inputs, settings, report, cancel)
        except torch.OutOfMemoryError as exc:
            self.release()
            raise OutOfMemory(f"Ran out of memory on {self.engine.device} running MultiAnimate; try --vram 24gb "
                              "(or 12gb), fewer frames (--max-frames 33) or a smaller --size") from exc
        frames = video.shape[1]
        report(Progress("write", 0, 1, str(job.output)))
        with VideoWriter(job.output, fps, size) as writer:
            for frame in ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy():
                check_cancel(cancel)
                writer.write(np.ascontiguousarray(frame))
        report(Progress("write", 1, 1, str(job.output)))
        seconds = time.monotonic() - started
        report(Progress("done", 1, 1, f"{frames} frames in {seconds:.1f} s"))
        return JobResult(output=str(job.output), frames=frames, fps=fps, seconds=seconds, height=size[0],
                         width=size[1], seed=s.seed, speed=settings.speed.describe(0, s.steps))


def check_files(job: Job) -> tuple[tuple[int, int], int, float]:
    """Every check of a MultiAnimate job's files that reads no frames (the server runs it on uploads):
    the output size, the frames one window uses and the skeleton video's frame rate. Every mask
    video needs at least those frames and the skeleton video's size; the images must decode."""
    job.validate()
    check_model(job, "multianimate")
    i, s = job.inputs, job.settings
    info = probe_video(i.pose_video)
    count = min(usable_frames(info.frames, s.max_frames), FRAMES)
    if count < 5:
        raise InputError(f"the skeleton video has {info.frames} frames; MultiAnimate needs at least 5")
    for k, path in enumerate(i.character_masks or []):
        mask = probe_video(path)
        if (mask.height, mask.width) != (info.height, info.width) or mask.frames < count:
            raise InputError(f"character mask {k + 1} ({path}) is {mask.frames} frames of {mask.height}x{mask.width}; "
                             f"it needs at least {count} frames of {info.height}x{info.width} like the skeleton video "
                             "(scail render-pose --character-masks-out writes matching ones)")
    load_image(i.reference_image)
    load_image(str(i.reference_pose), "reference pose")
    return ((s.height, s.width) if s.height is not None else (HEIGHT, WIDTH)), count, info.fps


def read_inputs(job: Job) -> tuple[MultiAnimateInputs, float]:
    """The job's files as the engine's arrays (checked by ``check_files`` first), and the skeleton
    video's frame rate. Only the frames one window uses are read."""
    _, count, fps = check_files(job)
    i = job.inputs
    masks = [_frames(path, count).max(axis=3) for path in i.character_masks or []]  # white inside: any channel
    inputs = MultiAnimateInputs(reference=load_image(i.reference_image), poses=_frames(i.pose_video, count),
                                reference_pose=load_image(str(i.reference_pose), "reference pose"),
                                masks=np.stack(masks), prompt=i.prompt,
                                **({"negative_prompt": i.negative_prompt} if i.negative_prompt else {}))
    return inputs, fps


def _frames(path: str, count: int) -> np.ndarray:
    frames = []
    for frame in read_video(path):
        frames.append(frame)
        if len(frames) == count:
            break
    return np.stack(frames)
