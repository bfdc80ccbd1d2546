"""How a DiT runs: attention kernel, precision, step cache, VRAM mode, LoRA, CFG batching.

``Speed`` gathers these choices; ``prepare_dit`` applies the ones that change the loaded model
(LoRA merge, fp8 conversion, attention kernel, offload, torch.compile); guidance.py's
``guided_forward`` runs one CFG step with the ones that change the loop (two passes or a batch of
two, step caching).
Everything that changes the numbers is off by default: the defaults give the full-quality model
(bf16 weights, exact attention with the fastest kernel that computes it).

Nothing here reads a device value back to the host, so a sampling step queues its kernels and
returns (the step cache plans its skips before the loop; see step_cache.py).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from ..jobs.contract import LORA_MODES, PRECISIONS, VRAM_MODES, JobSettings
from .lora import attach_lora, merge_lora, read_lora
from .models.attention import check_kernel
from .models.dit import ScailDiT
from .models.fp8 import convert_blocks_to_fp8
from .offload import BlockOffload

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Speed:
    """Run-time choices for one DiT; see the README's "Speed modes" for what each costs."""

    precision: str = "bf16"
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
        check_kernel(self.attention)
        for name, value, allowed in (("precision", self.precision, PRECISIONS),
                                     ("vram", self.vram, VRAM_MODES), ("lora_mode", self.lora_mode, LORA_MODES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    @classmethod
    def from_settings(cls, settings: JobSettings, lora_file: str | None = None,
                      device: str | torch.device = "cpu") -> Speed:
        """The job's speed settings on ``device``; 12gb also runs CFG as two passes to halve the activations.
        ``lora_file`` is the LoRA to read where ``settings.lora`` is only its name (``JobInputs.lora_file``).
        Compile "auto" is on with CUDA, where the fused blocks pay back their compile within two steps,
        and off elsewhere (a CPU compile needs a C++ compiler and gains little)."""
        compiled = settings.compile == "on" or (settings.compile == "auto" and compile_pays(device))
        return cls(precision=settings.precision, attention=settings.attention, cache=settings.cache,
                   vram=settings.vram, lora=lora_file or settings.lora, lora_strength=settings.lora_strength,
                   lora_name=settings.lora, lora_mode=settings.lora_mode, cfg_batch=settings.vram != "12gb",
                   compile=compiled)

    @property
    def offloads(self) -> bool:
        return self.vram != "full"

    @property
    def model_key(self) -> tuple:
        """What a loaded model depends on: a job that differs here needs the DiT reloaded."""
        return (self.precision, self.vram, self.lora, self.lora_strength, self.lora_mode,
                self.compile)

    def describe(self, skipped_steps: int | None = None, total_steps: int | None = None) -> str:
        """One line for logs and JobResult.speed: ``precision=bf16 attention=auto ...``."""
        cache = "off" if not self.cache else f"{self.cache:g}"
        if self.cache and skipped_steps is not None:
            cache += f"({skipped_steps}/{total_steps} steps skipped)"
        lora = "none" if self.lora is None else f"{Path(self.lora_name or self.lora).name}@{self.lora_strength:g}"
        lora += f"({self.lora_mode})" if self.lora is not None and self.lora_mode != "merge" else ""
        return (f"precision={self.precision} attention={self.attention} cache={cache} vram={self.vram} "
                f"cfg={'batch' if self.cfg_batch else 'passes'} lora={lora} compile={'on' if self.compile else 'off'}")


def compile_pays(device: str | torch.device) -> bool:
    """Whether compile "auto" turns on: a CUDA device with Triton and a C compiler for its launchers
    (Windows installs often have neither, and a compile that fails mid-job would lose the job)."""
    return (torch.device(device).type == "cuda" and importlib.util.find_spec("triton") is not None
            and any(shutil.which(cc) for cc in ("cc", "gcc", "clang")))


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
        convert_blocks_to_fp8(dit.blocks)
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
