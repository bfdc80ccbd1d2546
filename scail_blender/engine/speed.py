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

import torch

from ..jobs.contract import LORA_MODES, PRECISIONS, VRAM_MODES, JobSettings
from ..jobs.loras import LoraSpec, describe_stack
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
    # The LoRA stack in order: (file to read, strength, name describe() shows: a server's name, not its path).
    loras: tuple[tuple[str, float, str], ...] = ()
    lora_mode: str = "merge"

    def __post_init__(self) -> None:
        check_kernel(self.attention)
        for name, value, allowed in (("precision", self.precision, PRECISIONS),
                                     ("vram", self.vram, VRAM_MODES), ("lora_mode", self.lora_mode, LORA_MODES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    @classmethod
    def from_settings(cls, settings: JobSettings, lora_files: dict[str, str] | None = None,
                      device: str | torch.device = "cpu") -> Speed:
        """The job's speed settings on ``device``; 12gb also runs CFG as two passes to halve the activations.
        ``lora_files`` gives the file of each LoRA whose name is not its path (``JobInputs.lora_files``).
        Compile "auto" is on with CUDA, where the fused blocks pay back their compile within two steps,
        and off elsewhere (a CPU compile needs a C++ compiler and gains little)."""
        files = lora_files or {}
        loras = tuple((files.get(spec.name, spec.name), spec.strength, spec.name) for spec in settings.loras)
        compiled = settings.compile == "on" or (settings.compile == "auto" and compile_pays(device))
        return cls(precision=settings.precision, attention=settings.attention, cache=settings.cache,
                   vram=settings.vram, loras=loras, lora_mode=settings.lora_mode, cfg_batch=settings.vram != "12gb",
                   compile=compiled)

    @property
    def offloads(self) -> bool:
        return self.vram != "full"

    @property
    def model_key(self) -> tuple:
        """What a loaded model depends on: a job that differs here needs the DiT reloaded."""
        return (self.precision, self.vram, self.loras, self.lora_mode, self.compile)

    def describe(self, skipped_steps: int | None = None, total_steps: int | None = None) -> str:
        """One line for logs and JobResult.speed: ``precision=bf16 attention=auto ...``."""
        cache = "off" if not self.cache else f"{self.cache:g}"
        if self.cache and skipped_steps is not None:
            cache += f"({skipped_steps}/{total_steps} steps skipped)"
        lora = describe_stack([LoraSpec(name=name, strength=strength) for _, strength, name in self.loras])
        lora += f"({self.lora_mode})" if self.loras and self.lora_mode != "merge" else ""
        return (f"precision={self.precision} attention={self.attention} cache={cache} vram={self.vram} "
                f"cfg={'batch' if self.cfg_batch else 'passes'} lora={lora} compile={'on' if self.compile else 'off'}")


def compile_pays(device: str | torch.device) -> bool:
    """Whether compile "auto" turns on: a CUDA device with Triton and a C compiler for its launchers
    (Windows installs often have neither, and a compile that fails mid-job would lose the job)."""
    return (torch.device(device).type == "cuda" and importlib.util.find_spec("triton") is not None
            and any(shutil.which(cc) for cc in ("cc", "gcc", "clang")))


def prepare_dit(dit: ScailDiT, speed: Speed, device: str | torch.device) -> ScailDiT:
    """Apply ``speed`` to a freshly loaded DiT and put it on ``device``; returns the same model.

    Order matters: the LoRAs are merged into the bf16/fp32 weights (one after the other, in the
    stack's order) before they are quantised, and blocks are offloaded in their final dtype. With
    offload the model should arrive on the CPU. Every file of the stack is read (and its keys
    checked) before any weight changes, so a bad LoRA late in the stack leaves no half-merged model.
    """
    device = torch.device(device)
    stack = [(read_lora(path, dit), strength) for path, strength, _ in speed.loras]
    if speed.lora_mode == "merge":
        for lora, strength in stack:
            merge_lora(dit, lora, strength)
    if speed.precision == "fp8":
        convert_blocks_to_fp8(dit.blocks)
    if speed.offloads:
        for name, child in dit.named_children():
            if name != "blocks":
                child.to(device)
        dit.offload = BlockOffload(dit.blocks, device)
    else:
        dit.to(device)
    if speed.lora_mode == "live":
        for lora, strength in stack:
            attach_lora(dit, lora, strength, device)
    dit.set_attention(speed.attention)
    if speed.compile:
        dit.compile_blocks()
    log.info("DiT ready on %s: %s", device, speed.describe())
    return dit
