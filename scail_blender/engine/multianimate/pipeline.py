"""One MultiAnimate generation: reference image + skeleton frames + per-character masks -> video.

The steps of the official pipeline (``WanUniAnimateVideoPipeline.__call__``), in this engine's
parts: umT5 for the prompt and the negative prompt, CLIP on the reference, the I2V conditioning
(the 4 first-frame mask channels and the VAE latent of the reference followed by gray frames)
plus the reference-pose features, the pose + identity tokens from the skeleton frames and the
label map, then ``guidance.sample`` and a tiled VAE decode.

Inputs are arrays here (reading files and scenes is the callers' part); every image is stretched
to the model size as the official scripts do (no crop): the reference bicubic, skeletons and masks
bilinear, masks thresholded after resizing. One window of at most 81 frames (1 + 4k), the only
length the model was trained for; the official script pads shorter clips with black frames, this
one generates the shorter clip instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InputError
from ...progress import Progress, ProgressCallback, check_cancel
from ..components import load_clip, load_t5, load_vae
from ..devices import Dtypes, free_memory, resolve_device
from ..preprocess import usable_frames
from ..speed import Speed, prepare_dit
from ..text import PromptTokenizer
from .checkpoint import load_multianimate, open_multianimate, wan_components
from ..models.wan_i2v import WanI2VDiT
from .encoders import MultiAnimateEncoders, i2v_mask, label_map
from .guidance import CFG, FRAMES, HEIGHT, NEGATIVE_PROMPT, SHIFT, STEPS, WIDTH, sample


@dataclass(frozen=True)
class MultiAnimateInputs:
    """reference [H, W, 3] uint8; poses [T, H, W, 3] uint8, every character's skeleton on one canvas;
    reference_pose [H, W, 3] uint8, the skeletons of the reference image; masks [N, T, H, W] (bool,
    or uint8 with 255 inside), one per character, in the order that gives each its identity slot."""

    reference: np.ndarray
    poses: np.ndarray
    reference_pose: np.ndarray
    masks: np.ndarray
    prompt: str = ""
    negative_prompt: str = NEGATIVE_PROMPT


@dataclass(frozen=True)
class MultiAnimateSettings:
    size: tuple[int, int] = (HEIGHT, WIDTH)
    steps: int = STEPS
    cfg: float = CFG
    shift: float = SHIFT
    seed: int = 0
    max_frames: int = FRAMES
    # The engine's speed modes: attention kernel, fp8, block offload (vram), compile, CFG as two
    # passes. The step cache is calibrated on SCAIL's DiT and refused here.
    speed: Speed = Speed()


def check_inputs(inputs: MultiAnimateInputs, persons: int) -> int:
    """Raise InputError for unusable inputs; return the number of frames to generate."""
    poses, masks = inputs.poses, inputs.masks
    if inputs.reference.ndim != 3 or inputs.reference.shape[2] != 3:
        raise InputError(f"the reference must be an RGB image [H, W, 3], got {list(inputs.reference.shape)}")
    if inputs.reference_pose.ndim != 3 or inputs.reference_pose.shape[2] != 3:
        raise InputError(f"the reference pose must be an RGB image [H, W, 3], got {list(inputs.reference_pose.shape)}")
    if poses.ndim != 4 or poses.shape[3] != 3:
        raise InputError(f"the pose frames must be RGB [T, H, W, 3], got {list(poses.shape)}")
    if masks.ndim != 4 or masks.shape[1] != poses.shape[0] or masks.shape[2:] != poses.shape[1:3]:
        raise InputError(f"masks must be [characters, {poses.shape[0]} frames, {poses.shape[1]}, {poses.shape[2]}] "
                         f"like the pose frames, got {list(masks.shape)}")
    if not 1 <= masks.shape[0] <= persons:
        raise InputError(f"{masks.shape[0]} character masks given; this MultiAnimate checkpoint animates 1 to "
                         f"{persons} characters (the extended checkpoint takes 7)")
    if poses.shape[0] < 5:
        raise InputError(f"{poses.shape[0]} pose frames: MultiAnimate needs at least 5")
    return usable_frames(poses.shape[0], FRAMES)


def stretch(frames: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """[N, C, H, W] float resized to ``size`` ignoring the aspect ratio (antialiased when shrinking)."""
    return F.interpolate(frames.float(), size=size, mode=mode, align_corners=False, antialias=True)


class MultiAnimatePipeline:
    """A Wan2.1-I2V base folder and a MultiAnimate folder on one device."""

    def __init__(self, base: str | Path, checkpoint: str | Path, device: str | torch.device | None = None,
                 dtypes: Dtypes | None = None) -> None:
        self.base, self.checkpoint = Path(base), Path(checkpoint)
        self.files = wan_components(self.base)
        self.persons = open_multianimate(self.checkpoint).persons
        self.device = resolve_device(device)
        self.dtypes = dtypes or Dtypes.for_device(self.device)
        self._models: tuple[WanI2VDiT, MultiAnimateEncoders, torch.nn.Module] | None = None
        self._models_key: tuple | None = None

    @property
    def loaded(self) -> bool:
        """Whether the DiT, encoders and VAE are in memory (the text and image encoders never stay)."""
        return self._models is not None

    def release(self) -> None:
        """Free the DiT, encoders and VAE."""
        self._models = self._models_key = None
        free_memory()

    def _load(self, speed: Speed) -> tuple[WanI2VDiT, MultiAnimateEncoders, torch.nn.Module]:
        """The DiT prepared for ``speed``, the encoders and the VAE; kept for the next job with the same speed."""
        if self._models is None or self._models_key != speed.model_key:
            self.release()
            # Offloaded blocks are built on the host: the whole bf16 model may not fit the GPU.
            load_device = torch.device("cpu") if speed.offloads else self.device
            dit, encoders = load_multianimate(self.base, self.checkpoint, self.dtypes.dit, load_device)
            vae = load_vae(self.files.vae, torch.float32, self.device)
            self._models = (prepare_dit(dit, speed, self.device), encoders.to(self.device), vae)
            self._models_key = speed.model_key
        self._models[0].set_attention(speed.attention)
        return self._models

    def generate(self, inputs: MultiAnimateInputs, settings: MultiAnimateSettings = MultiAnimateSettings(),
                 on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> torch.Tensor:
        """The video [3, T, H, W] in [-1, 1]."""
        report = on_progress or (lambda event: None)
        frames = min(check_inputs(inputs, self.persons), usable_frames(settings.max_frames, None))
        size, dtype = settings.size, self.dtypes.dit
        speed = settings.speed
        if speed.cache:
            raise InputError("the step cache (cache) is calibrated for SCAIL's DiT, not MultiAnimate's; set it to 0")
        if speed.loras:
            raise InputError("an extra LoRA on top of MultiAnimate's is not supported; drop the lora setting")
        if size[0] % 16 or size[1] % 16:
            raise InputError(f"size {size[0]}x{size[1]} must be a multiple of 16 pixels (MultiAnimate uses 480x832)")
        report(Progress("load", 0, 3, "text encoder"))
        context = self._encode_text([inputs.prompt, inputs.negative_prompt])
        check_cancel(cancel)
        reference = stretch(torch.from_numpy(inputs.reference).permute(2, 0, 1)[None], size, "bicubic")[0]
        reference = (reference / 127.5 - 1).to(self.device)
        report(Progress("load", 1, 3, "image encoder"))
        clip = load_clip(self.files.clip, self.dtypes.clip, self.device)
        clip_fea = clip.features(reference[None]).to(dtype)
        del clip
        free_memory()
        report(Progress("load", 2, 3, "diffusion model"))
        dit, encoders, vae = self._load(speed)
        check_cancel(cancel)
        report(Progress("encode", 0, 1, "reference and skeletons"))
        with torch.no_grad():
            video = torch.cat([reference[:, None], reference.new_zeros(3, frames - 1, *size)], dim=1)
            y = torch.cat([i2v_mask(frames, *size)[None].to(self.device), vae.encode(video[None])], dim=1)
            ref_pose = stretch(torch.from_numpy(inputs.reference_pose).permute(2, 0, 1)[None], size, "bilinear")
            y = y.to(dtype) + encoders.reference_pose(ref_pose.round().to(self.device), dtype)
            poses = stretch(torch.from_numpy(inputs.poses[:frames]).permute(0, 3, 1, 2), size, "bilinear").round()
            masks = torch.from_numpy(np.asarray(inputs.masks[:, :frames]).astype(np.float32))
            masks = masks * (255.0 if masks.max() <= 1 else 1.0)
            masks = stretch(masks, size, "bilinear")[:, None].to(self.device)
            labels = label_map(masks, self.persons + 1)
            condition = encoders.condition(labels, poses.permute(1, 0, 2, 3)[None].to(self.device), dtype)
        report(Progress("encode", 1, 1, "encoded"))
        generator = torch.Generator("cpu").manual_seed(settings.seed)
        noise = torch.randn((1, 16, (frames - 1) // 4 + 1, size[0] // 8, size[1] // 8), generator=generator)
        latent = sample(dit, noise.to(self.device), context, clip_fea, y, condition, steps=settings.steps,
                        shift=settings.shift, cfg=settings.cfg, cfg_batch=speed.cfg_batch, cancel=cancel,
                        on_step=_step_reporter(report))
        report(Progress("decode", 0, 1, "VAE"))
        with torch.no_grad():
            out = vae.decode_tiled(latent)[0]
        report(Progress("decode", 1, 1, "decoded"))
        return out

    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        tokenizer = PromptTokenizer(self.files.tokenizer)
        encoder = load_t5(self.files.t5, self.dtypes.t5, self.device)
        ids, mask = tokenizer(texts)
        with torch.no_grad():
            context = encoder(ids.to(self.device), mask.to(self.device)).to(self.dtypes.dit)
        del encoder
        free_memory()
        return context


def _step_reporter(report: ProgressCallback) -> Callable[[int, int], None]:
    return lambda i, n: report(Progress("denoise", i, n, f"step {i}/{n}"))
