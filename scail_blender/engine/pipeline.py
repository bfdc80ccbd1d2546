"""One SCAIL generation: reference image + pose video + prompt -> animated mp4.

Order of work, chosen for memory: the text encoder and CLIP run first and are freed before the
DiT is touched (the DiT stays loaded between jobs, they do not); then each window of at most
81 frames is denoised and decoded in turn. Long clips use the SCAIL-2 scheme: windows start 76
frames apart; for SCAIL-2 the last 5 decoded frames of a window are re-encoded as 2 clean history
latent frames of the next (marked by the history mask) and dropped when joining; SCAIL-Preview
was not trained with history, so its windows are generated independently and the 5 shared
frames are cross-faded. The history frames stay clean at every step while the rest is denoised
at the one shared timestep, as in SCAIL-2's training (its loss keeps them un-noised and ignores
them). Unlike the official SAT script, which drops the frames after the last full 81-frame
window, the last window here is shorter and ends at the clip's end.

CFG runs the conditional and unconditional passes as one batch of two; they differ only in the
text (reference, pose and CLIP features are the same), as in the official code. The job's speed
modes (speed.py) are applied when the DiT is loaded (LoRA, fp8, offload: a job with other values
reloads it) and in the loop (attention kernel, step cache; vram 12gb runs CFG as two passes).
With vram 24gb/12gb the text encoder runs on the CPU; 12gb also decodes in spatial tiles.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ..errors import InputError, OutOfMemory
from ..progress import Progress, ProgressCallback, check_cancel, no_progress
from ..media.video import VideoWriter
from . import preprocess as pre
from .checkpoints.formats import find_checkpoint_file
from .checkpoints.loading import load_dit
from .components import ComponentFiles, load_clip, load_t5, load_vae
from ..jobs.contract import Job, JobResult, JobSettings
from ..jobs.sampling import resolve_settings
from .models.attention import FA4_MISSING, SAGE_MISSING, has_fa4, has_sageattention
from .models.dit import ScailDiT, add_mask_channels
from .sampling import denoise, make_sampler
from .devices import Dtypes, free_memory, resolve_device
from .guidance import guided_forward
from .inputs import check_inputs, first_frames
from .speed import Speed, prepare_dit
from .step_cache import StepCache, plan_steps
from .text import PromptTokenizer

# The load phase in percent: the encoders are quick, reading the DiT's tensors is most of it.
LOAD_STEPS = 100
DIT_LOAD_FROM = 15
log = logging.getLogger(__name__)


@contextmanager
def _per_call(module: torch.nn.Module, on_call: Callable[[], None]) -> Iterator[None]:
    """Call ``on_call`` after every forward of ``module``: the VAE runs its encoder and decoder
    once per chunk of frames, so this gives VAE progress without touching the model code."""
    handle = module.register_forward_hook(lambda *_: on_call())
    try:
        yield
    finally:
        handle.remove()


@dataclass(frozen=True)
class Conditioning:
    """What every window of one job is conditioned on (computed once per job)."""

    context: torch.Tensor  # umT5 embeddings of the prompt and the negative prompt
    clip_fea: torch.Tensor  # CLIP tokens of the reference
    ref_latent: torch.Tensor  # the reference, VAE-encoded
    pose_half: torch.Tensor  # the pose frames at half size, all of them
    masks: tuple[torch.Tensor, torch.Tensor] | None  # SCAIL-2's reference and driving masks
    # SCAIL-2's extra reference views: their latents with mask channels and their 28-channel masks.
    extra_refs: dict[str, torch.Tensor] = field(default_factory=dict)


class ScailPipeline:
    """A checkpoint folder on one device; ``generate`` runs jobs one after another."""

    def __init__(self, checkpoint: str | Path, device: str | torch.device | None = None, *,
                 components: str | Path | ComponentFiles | None = None, dtypes: Dtypes | None = None) -> None:
        """``checkpoint``: a release folder, or a DiT file (a ``scail convert`` safetensors) whose
        VAE, umT5 and CLIP are found beside it, in ``components``, or in the folder it was
        converted from (see ``ComponentFiles.for_checkpoint``). ``dtypes`` defaults to the
        device's (``Dtypes.for_device``)."""
        self.root = Path(checkpoint)
        self.device = resolve_device(device)
        if self.root.is_dir() and components is None:
            self.files = ComponentFiles.locate(self.root)
            self.dit_file = find_checkpoint_file(self.root)
        else:
            self.dit_file = find_checkpoint_file(self.root)
            self.files = ComponentFiles.for_checkpoint(self.root, self.dit_file, components)
        self.dtypes = dtypes or Dtypes.for_device(self.device)
        self._dit: ScailDiT | None = None
        self._dit_key: tuple | None = None
        self._vae = None

    @property
    def loaded(self) -> bool:
        """Whether the DiT is in memory (the text and image encoders never stay)."""
        return self._dit is not None

    def release(self) -> None:
        """Free the DiT and VAE (the server's 'release model')."""
        self._dit = self._vae = self._dit_key = None
        free_memory()

    def generate(self, job: Job, on_progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> JobResult:
        """Run ``job``; the output file appears only when the whole video was written."""
        phase = Progress("load", 0, LOAD_STEPS)

        def report(event: Progress) -> None:
            nonlocal phase
            phase = event
            if on_progress is not None:
                on_progress(event)

        try:
            return self._generate(job, report, cancel)
        except torch.OutOfMemoryError as exc:
            self.release()
            raise OutOfMemory(
                f"Ran out of memory on {self.device} in phase '{phase.phase}' ({phase.message or 'starting'}). "
                "Try --vram 24gb (or 12gb: the DiT's blocks stream from host memory), fewer frames per job "
                "(--max-frames 33), a smaller size, closing other programs that use the GPU, or a GPU with more "
                "memory (the 14B DiT needs about 40 GB at 512x896 and 81 frames)."
            ) from exc

    def _generate(self, job: Job, report: ProgressCallback, cancel: threading.Event | None) -> JobResult:
        started = time.monotonic()

        checked = check_inputs(job)
        s, inputs = job.settings, job.inputs
        speed = Speed.from_settings(s, inputs.lora_files, self.device)
        if speed.attention == "sage" and self.device.type == "cuda" and not has_sageattention():
            raise InputError(SAGE_MISSING)
        if speed.attention == "fa4" and (self.device.type != "cuda" or not has_fa4()):
            raise InputError(FA4_MISSING)
        image, info, size, frames_used = checked.image, checked.video, checked.size, checked.frames

        report(Progress("load", 0, LOAD_STEPS, "text encoder"))
        context = self._encode_text([inputs.prompt, inputs.negative_prompt],
                                    torch.device("cpu") if speed.offloads else self.device)
        check_cancel(cancel)
        report(Progress("load", 10, LOAD_STEPS, "image encoder"))
        reference = pre.reference_tensor(image, size).to(self.device)
        clip_fea = self._encode_image(reference)
        check_cancel(cancel)
        report(Progress("load", DIT_LOAD_FROM, LOAD_STEPS, "diffusion model"))
        dit, vae = self._models(speed, report)
        variant = dit.config.variant
        if variant != "scail2" and inputs.extra_references:
            raise InputError(f"{self.dit_file} is a SCAIL-Preview checkpoint, which takes no extra reference views; "
                             "drop --extra-reference or use a SCAIL-2 checkpoint")
        if variant == "scail" and (inputs.reference_mask or inputs.pose_mask):
            log.warning("SCAIL-Preview takes no masks: the reference and pose masks are ignored "
                        "(they are for SCAIL-2 checkpoints); drop --ref-mask/--pose-mask")
        if s.variant is not None and s.variant != variant:
            raise InputError(f"settings.variant is {s.variant} but {self.dit_file} is a {variant} checkpoint; "
                             "drop the variant setting or use the matching checkpoint")
        if s.mode == "replacement" and variant != "scail2":
            raise InputError("replacement mode needs a SCAIL-2 checkpoint; use mode 'animation'")
        s = resolve_settings(s, variant)  # unset steps, CFG, shift, sampler: this model's official values
        report(Progress("load", LOAD_STEPS, LOAD_STEPS, "ready"))

        pose_half = pre.halve(pre.pose_tensor(list(first_frames(inputs.pose_video, frames_used)), size))
        cond = Conditioning(context=context, clip_fea=clip_fea, ref_latent=vae.encode(reference[None, :, None]),
                            pose_half=pose_half,
                            masks=self._scail2_masks(job, size, frames_used) if variant == "scail2" else None,
                            extra_refs=self._extra_references(job, size, vae) if variant == "scail2" else {})
        windows = pre.plan_windows(frames_used)
        total_steps = len(windows) * s.steps
        pieces, skipped = self._denoise_windows(windows, cond, s, speed, dit, vae, report, cancel)
        video = torch.cat(pieces, dim=2)[0]
        _check_length(video.shape[1], frames_used)
        report(Progress("write", 0, 1, str(job.output)))
        with VideoWriter(job.output, info.fps, size) as writer:
            for frame in _to_uint8(video):
                check_cancel(cancel)
                writer.write(frame)
        report(Progress("write", 1, 1, str(job.output)))
        seconds = time.monotonic() - started
        report(Progress("done", 1, 1, f"{frames_used} frames in {seconds:.1f} s"))
        return JobResult(output=str(job.output), frames=frames_used, fps=info.fps, seconds=seconds,
                         width=size[1], height=size[0], seed=s.seed,
                         speed=speed.describe(skipped, total_steps))

    def _denoise_windows(self, windows: list[pre.Window], cond: Conditioning, s: JobSettings, speed: Speed,
                         dit: ScailDiT, vae: torch.nn.Module, report: ProgressCallback,
                         cancel: threading.Event | None) -> tuple[list[torch.Tensor], int]:
        """Each window encoded, denoised and decoded in turn: the decoded pieces to join and the
        number of steps the step cache skipped. A SCAIL-2 window starts from the previous one's
        last decoded frames, re-encoded as clean history latents."""
        variant = dit.config.variant
        # Noise is drawn on the CPU, so one seed gives one video on a CPU, any GPU and the server.
        generator = torch.Generator("cpu").manual_seed(s.seed)
        total_steps = len(windows) * s.steps
        pieces: list[torch.Tensor] = []
        previous: torch.Tensor | None = None
        skipped = 0
        # VAE chunks: the encoder and the decoder run once per latent frame of every window.
        chunks = sum(1 + (w.frames - 1) // 4 for w in windows)
        done = {"encode": 0, "decode": 0}
        window_no = [0]

        def chunk(phase: str) -> Callable[[], None]:
            def step() -> None:
                done[phase] = min(done[phase] + 1, chunks)
                report(Progress(phase, done[phase], chunks, f"window {window_no[0]}: VAE {phase} {done[phase]}/{chunks}"))
            return step

        for index, window in enumerate(windows):
            check_cancel(cancel)
            window_no[0] = index + 1
            report(Progress("encode", done["encode"], chunks, f"window {index + 1} of {len(windows)}"))
            pose_clip = cond.pose_half[window.start:window.stop].to(self.device)
            with _per_call(vae.encoder, chunk("encode")):
                pose_latent = vae.encode(pose_clip.permute(1, 0, 2, 3)[None])
            latent_frames = pose_latent.shape[2]
            shape = (1, 16, latent_frames, *cond.ref_latent.shape[-2:])
            noise = torch.randn(shape, generator=generator, dtype=torch.float32).to(self.device)
            history = None
            if variant == "scail2" and window.history and previous is not None:
                history = vae.encode(previous[:, :, -pre.HISTORY_FRAMES:])
            extra = self._mask_inputs(cond.masks, window, latent_frames) if cond.masks is not None else {}
            extra.update(cond.extra_refs)
            sampler = make_sampler(s.sampler, s.steps, s.shift)
            cache = plan_steps(dit, sampler.timesteps, s.cache) if s.cache else None
            skipped += cache.skipped if cache is not None else 0
            velocity = self._guided_velocity(dit, s.cfg, cond.context, cond.clip_fea, cond.ref_latent, pose_latent,
                                             history, extra, s.mode == "replacement", speed, cache)
            step0 = index * s.steps
            report(Progress("denoise", step0, total_steps, f"window {index + 1}: step 0/{s.steps}"))
            latent = denoise(sampler, velocity, noise, cancel=cancel,
                             on_step=lambda i, n, step0=step0, window_no=index + 1: report(
                                 Progress("denoise", step0 + i, total_steps, f"window {window_no}: step {i}/{n}")))
            if history is not None:
                latent[:, :, :history.shape[2]] = history
            report(Progress("decode", done["decode"], chunks, f"window {index + 1} of {len(windows)}"))
            with _per_call(vae.decoder, chunk("decode")):
                decoded = vae.decode_tiled(latent) if speed.vram == "12gb" else vae.decode(latent)
            _join(pieces, decoded, window, variant)
            previous = decoded
        report(Progress("decode", chunks, chunks, "decoded"))
        return pieces, skipped

    def _models(self, speed: Speed | None = None, report: ProgressCallback = no_progress
                ) -> tuple[ScailDiT, torch.nn.Module]:
        """The VAE and the DiT prepared for ``speed`` (default: the full-quality settings)."""
        speed = speed or Speed()
        if self._vae is None:
            self._vae = load_vae(self.files.vae, torch.float32, self.device)
        if self._dit is None or self._dit_key != speed.model_key:
            self._dit = self._dit_key = None
            free_memory()
            self._dit = self._load_dit(speed, report)
            self._dit_key = speed.model_key
        self._dit.set_attention(speed.attention)
        return self._dit, self._vae

    def _load_dit(self, speed: Speed, report: ProgressCallback = no_progress) -> ScailDiT:
        """The DiT prepared for ``speed`` on this pipeline's device (a device group loads it on every rank instead)."""

        def tensor(done: int, total: int) -> None:
            if done % 20 == 0 or done == total:
                step = DIT_LOAD_FROM + (LOAD_STEPS - DIT_LOAD_FROM - 1) * done // total
                report(Progress("load", step, LOAD_STEPS, f"diffusion model: {done}/{total} tensors"))

        # Offloaded blocks are built on the host: the whole bf16 model may not fit the GPU.
        load_device = torch.device("cpu") if speed.offloads else self.device
        return prepare_dit(load_dit(self.dit_file, self.dtypes.dit, load_device, on_tensor=tensor), speed, self.device)

    def _encode_text(self, texts: list[str], device: torch.device) -> torch.Tensor:
        """umT5 embeddings [len(texts), 512, 4096] on the DiT's device; the encoder is freed right after."""
        tokenizer = PromptTokenizer(self.files.tokenizer)
        encoder = load_t5(self.files.t5, self.dtypes.t5, device)
        ids, mask = tokenizer(texts)
        context = encoder(ids.to(device), mask.to(device)).to(self.device, self.dtypes.dit)
        del encoder
        free_memory()
        return context

    def _encode_image(self, reference: torch.Tensor) -> torch.Tensor:
        """CLIP tokens [1, 257, 1280] of the cropped reference; the encoder is freed right after."""
        clip = load_clip(self.files.clip, self.dtypes.clip, self.device)
        features = clip.features(reference[None]).float()
        del clip
        free_memory()
        return features

    def _scail2_masks(self, job: Job, size: tuple[int, int], frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference's 28-channel mask and the halved driving-mask frames.

        Both are required, as in the official SCAIL-2 scripts: the model only saw masks that paint
        each character in its identity colour, so all-zero masks would tell it there is nobody to
        animate rather than "no mask given".
        """
        ref_path, drive_path = job.inputs.reference_mask, job.inputs.pose_mask
        if not ref_path or not drive_path:
            raise InputError(
                "SCAIL-2 needs a reference mask and a pose mask (inputs.reference_mask and inputs.pose_mask, "
                "or --ref-mask and --pose-mask): each character in its identity colour (blue, red, green, ... left to "
                "right), the reference mask on white and the driving mask on black in animation mode (the other way "
                "round in replacement mode), as SCAIL-Pose writes them; scail render-pose --mask-out writes the "
                "driving mask")
        h, w = size[0] // 8, size[1] // 8
        ref = pre.reference_tensor(pre.load_image(ref_path, "reference mask"), size)
        drive = pre.halve(pre.pose_tensor(list(first_frames(drive_path, frames)), size))
        return pre.colour_mask_latent(ref[None], (h, w)), drive

    def _extra_references(self, job: Job, size: tuple[int, int], vae) -> dict[str, torch.Tensor]:
        """SCAIL-2's extra reference views, each encoded like the reference (one latent frame with
        its mask channels set) and its mask made like the reference mask; empty when there are none."""
        images, masks = job.inputs.extra_references, job.inputs.extra_reference_masks
        if not images:
            return {}
        h, w = size[0] // 8, size[1] // 8
        latents = [vae.encode(pre.reference_tensor(pre.load_image(path, "extra reference"), size)
                              .to(self.device)[None, :, None]) for path in images]
        mask_latents = [pre.colour_mask_latent(pre.reference_tensor(pre.load_image(path, "extra reference mask"),
                                                                    size)[None], (h, w)) for path in masks]
        return {"extra_refs": add_mask_channels(torch.cat(latents, dim=2), 1.0),
                "extra_ref_masks": torch.cat(mask_latents, dim=1)[None].to(self.device)}

    def _mask_inputs(self, masks: tuple[torch.Tensor, torch.Tensor], window: pre.Window,
                     latent_frames: int) -> dict[str, torch.Tensor]:
        ref, drive = masks
        h, w = ref.shape[-2:]
        # The video frames get empty masks after the reference's ("null noisy mask" upstream).
        ref_mask = torch.cat([ref, torch.zeros(28, latent_frames, h, w)], dim=1)
        pose_mask = pre.colour_mask_latent(drive[window.start:window.stop], (h // 2, w // 2))
        return {"ref_mask": ref_mask[None].to(self.device), "pose_mask": pose_mask[None].to(self.device)}

    def _guided_velocity(self, dit: ScailDiT, cfg: float, context: torch.Tensor, clip_fea: torch.Tensor,
                         ref_latent: torch.Tensor, pose_latent: torch.Tensor, history: torch.Tensor | None,
                         extra: dict[str, torch.Tensor], replace: bool, speed: Speed, cache: StepCache | None
                         ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        ref = add_mask_channels(ref_latent, 1.0)
        pose = add_mask_channels(pose_latent, 1.0)
        frames = pose_latent.shape[2]
        mask4 = torch.zeros(1, 4, frames, *ref_latent.shape[-2:], device=self.device)
        if history is not None:
            mask4[:, :, :history.shape[2]] = 1

        def velocity(x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
            if history is not None:
                x = x.clone()
                x[:, :, :history.shape[2]] = history
            x_in = torch.cat([x, mask4], dim=1)
            t = timestep.to(self.device, torch.float32)  # already there: denoise moved the schedule
            return guided_forward(dit, x_in, t, context, clip_fea, ref, pose, cfg, cfg_batch=speed.cfg_batch,
                                  cache=cache, replace=replace, **extra)

        return velocity


def _join(pieces: list[torch.Tensor], decoded: torch.Tensor, window: pre.Window, variant: str) -> None:
    """Append a decoded window; the frames it shares with the previous one appear once."""
    shared = window.history
    if not pieces or not shared:
        pieces.append(decoded)
    elif variant == "scail2":
        pieces.append(decoded[:, :, shared:])  # its history frames are the previous window's
    else:
        tail = pieces[-1][:, :, -shared:]
        pieces[-1] = pieces[-1][:, :, :-shared]
        blended = pre.crossfade(tail[0], decoded[0, :, :shared])[None]
        pieces.append(torch.cat([blended, decoded[:, :, shared:]], dim=2))


def _check_length(produced: int, expected: int) -> None:
    if produced != expected:
        raise RuntimeError(f"internal error: produced {produced} frames for {expected}")


def _to_uint8(video: torch.Tensor):
    """[3, T, H, W] in [-1, 1] -> RGB uint8 frames."""
    frames = ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()
    for frame in frames:
        yield np.ascontiguousarray(frame)
