"""How a DiT runs: attention backend, precision, step cache, VRAM mode, LoRA, CFG batching.

``Speed`` gathers these choices; ``prepare_dit`` applies the ones that change the loaded model
(LoRA merge, fp8 conversion, attention backend, offload, torch.compile) and ``guided_forward``
runs one CFG step with the ones that change the loop (two passes or a batch of two, step caching).
Everything that changes the numbers is off by default: the defaults give the full-quality model
(bf16 weights, exact attention with the fastest kernel that computes it).

Nothing here reads a device value back to the host, so a sampling step queues its kernels and
returns (the step cache plans its skips before the loop; see step_cache.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from .jobs import PRECISIONS, VRAM_MODES, JobSettings
from .lora import attach_lora, merge_lora, read_lora
from .models.attention import check_backend
from .models.dit import ScailDiT
from .models.fp8 import ACTIVATION_SCALES, convert_blocks_to_fp8
from .offload import BlockOffload
from .step_cache import StepCache

log = logging.getLogger(__name__)

LORA_MODES = ("merge", "live")


@dataclass(frozen=True)
class Speed:
    """Run-time choices for one DiT; see the README's "Speed modes" for what each costs."""

    precision: str = "bf16"
    fp8_activation: str = "tensor"    # activation scales of fp8 linears: per tensor or per row
    attention: str = "auto"
    compile: bool = False             # torch.compile each block
    cfg_batch: bool = True            # CFG as one batch of two; False: two passes (half the activations)
    cache: float | None = None        # TeaCache threshold; None or 0 = off
    vram: str = "full"                # "24gb" / "12gb": blocks offloaded to pinned host memory
    lora: str | None = None           # the file to read
    lora_strength: float = 1.0
    lora_mode: str = "merge"
    lora_name: str | None = None      # what describe() shows (a server's name, not its path); None: the file's

    def __post_init__(self) -> None:
        check_backend(self.attention)
        for name, value, allowed in (("precision", self.precision, PRECISIONS),
                                     ("fp8_activation", self.fp8_activation, ACTIVATION_SCALES),
                                     ("vram", self.vram, VRAM_MODES), ("lora_mode", self.lora_mode, LORA_MODES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    @classmethod
    def from_settings(cls, settings: JobSettings, lora_file: str | None = None) -> Speed:
        """The job's speed settings; 12gb also runs CFG as two passes to halve the activations.
        ``lora_file`` is the LoRA to read where ``settings.lora`` is only its name (``JobInputs.lora_file``)."""
        return cls(precision=settings.precision, attention=settings.attention, cache=settings.cache,
                   vram=settings.vram, lora=lora_file or settings.lora, lora_strength=settings.lora_strength,
                   lora_name=settings.lora, cfg_batch=settings.vram != "12gb",
                   compile=settings.compile)

    @property
    def offloads(self) -> bool:
        return self.vram != "full"

    @property
    def model_key(self) -> tuple:
        """What a loaded model depends on: a job that differs here needs the DiT reloaded."""
        return (self.precision, self.fp8_activation, self.vram, self.lora, self.lora_strength, self.lora_mode,
                self.compile)

    def describe(self, skipped_steps: int | None = None, total_steps: int | None = None) -> str:
        """One line for logs and JobResult.speed: ``precision=bf16 attention=auto ...``."""
        cache = "off" if not self.cache else f"{self.cache:g}"
        if self.cache and skipped_steps is not None:
            cache += f"({skipped_steps}/{total_steps} steps skipped)"
        lora = "none" if self.lora is None else f"{Path(self.lora_name or self.lora).name}@{self.lora_strength:g}"
        return (f"precision={self.precision} attention={self.attention} cache={cache} vram={self.vram} "
                f"cfg={'batch' if self.cfg_batch else 'passes'} lora={lora} compile={'on' if self.compile else 'off'}")


def prepare_dit(dit: ScailDiT, speed: Speed, device: str | torch.device) -> ScailDiT:
    """Apply ``speed`` to a freshly loaded DiT and put it on ``device``; returns the same model.

    Order matters: the LoRA is merged into the bf16/fp32 weights before they are quantised, and
    blocks are offloaded in their final dtype. With offload the model should arrive on the CPU.
    """
    device = torch.device(device)
    if speed.lora is not None:
        lora = read_lora(speed.lora, dit)
        if speed.lora_mode == "merge":
            merge_lora(dit, lora, speed.lora_strength)
    if speed.precision == "fp8":
        convert_blocks_to_fp8(dit.blocks, speed.fp8_activation)
    if speed.offloads:
        for name, child in dit.named_children():
            if name != "blocks":
                child.to(device)
        dit.offload = BlockOffload(dit.blocks, device)
    else:
        dit.to(device)
    if speed.lora is not None and speed.lora_mode == "live":
        attach_lora(dit, lora, speed.lora_strength, device)
    dit.set_attention(speed.attention)
    if speed.compile:
        dit.compile_blocks()
    log.info("DiT ready on %s: %s", device, speed.describe())
    return dit


def guided_forward(dit: ScailDiT, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                   clip_fea: torch.Tensor, ref: torch.Tensor, pose: torch.Tensor, cfg: float,
                   *, cfg_batch: bool = True, cache: StepCache | None = None, replace: bool = False,
                   **extra: torch.Tensor) -> torch.Tensor:
    """One guided velocity: uncond + cfg * (cond - uncond), cond = text row 0, uncond = text row 1.

    ``x``, ``t`` [1], ``ref``, ``pose``, ``clip_fea`` and ``extra`` (SCAIL-2 masks) are single
    samples shared by both passes; ``context`` holds the two texts (one row without guidance).
    ``cfg_batch`` runs both in one forward of batch 2 (faster), otherwise two forwards of batch 1
    (half the activation memory, the same numbers). ``cache`` advances by one step per call.
    """
    guided = cfg > 1.0

    def run(batch: int, text: torch.Tensor, branch: str) -> torch.Tensor:
        def grow(v):
            return v.expand(batch, *v.shape[1:])
        slot = cache.slot(branch) if cache is not None else None
        return dit(grow(x), grow(t), text, grow(clip_fea), grow(ref), grow(pose), replace=replace,
                   residual=slot, **{k: grow(v) for k, v in extra.items()}).float()

    with torch.no_grad():
        if not guided:
            out = run(1, context[:1], "cond")
        elif cfg_batch:
            both = run(2, context[:2], "cfg")
            out = both[1:] + cfg * (both[:1] - both[1:])
        else:
            cond, uncond = run(1, context[:1], "cond"), run(1, context[1:2], "uncond")
            out = uncond + cfg * (cond - uncond)
    if cache is not None:
        cache.advance()
    return out
