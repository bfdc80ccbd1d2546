"""LoRA files for the SCAIL DiT: read the common key layouts, merge into the weights or apply live.

Three layouts are in circulation for Wan2.1-based models, all safetensors:

- kohya / musubi-tuner: ``lora_unet_blocks_0_self_attn_q.lora_down.weight``, ``.lora_up.weight``
  and ``.alpha`` (the module path with dots turned into underscores);
- diffusers / PEFT: ``transformer.blocks.0.attn1.to_q.lora_A.weight`` and ``.lora_B.weight``, in
  diffusers' module names (renamed below; the pairs follow diffusers' Wan conversion script), or
  PEFT on the original names (``diffusion_model.blocks.0.self_attn.q.lora_A.weight``);
- lightx2v / Wan (e.g. the step-distillation LoRAs): ``diffusion_model.blocks.0.self_attn.q.lora_down.weight``
  with ``.lora_up.weight`` (or ``.lora_A``/``.lora_B``) and ``.alpha``, plus full deltas ``.diff``
  (weights such as norms), ``.diff_b`` (biases) and ``.diff_m`` on a block or the head
  (``diffusion_model.blocks.0.diff_m``: its modulation), as lightx2v's lora_adapter.py reads them;
- ComfyUI: the Wan names behind ``diffusion_model.`` (or kohya's ``lora_unet_``), ``.lora_down``/
  ``.lora_up``/``.alpha``, full deltas ``.diff``/``.diff_b`` (a bare parameter such as a
  modulation as ``diffusion_model.blocks.0.modulation.diff``), as comfy/lora.py maps them.

A low-rank pair changes W [out, in] by strength * (alpha / rank) * up @ down (scale 1 without an
alpha, as PEFT files store none). Merging changes the weights once (no cost per step; apply it
before fp8 conversion); ``attach`` instead adds up(down(x)) in a forward hook, which leaves the
weights alone (switch LoRAs without reloading, or over fp8 weights).

Weights a file keeps quantised merge as follows: an fp8 layer is dequantised, the delta added and
the sum quantised again with one scale per output channel (once, at load; memory unchanged; the
merged weight is rounded to e4m3 once more, which the fp8 speed mode also does to its LoRA merge);
a GGML (GGUF) layer, and a ComfyUI int8 / mxfp8 / nvfp4 layer (models/blockquant.py), keeps the
pair and adds up @ down to the weight it dequantises at each call (memory: the pair; cost per
call: one [out, rank] @ [rank, in] product, small beside the layer's own matmul over thousands
of tokens; no second rounding). Full-weight deltas over those layers are refused. A key that names nothing in
the model is an error that lists it: a LoRA for another architecture must not load half-applied.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .models.fp8 import Fp8Linear
from .models.packed_linear import PackedLinear

PATCHED = (PackedLinear,)  # GGUF and ComfyUI int8/mxfp8/nvfp4 layers: they keep LoRA pairs and add them when they dequantise

log = logging.getLogger(__name__)

PREFIXES = ("model.diffusion_model.", "diffusion_model.", "base_model.model.", "transformer.", "lora_unet_")
# (diffusers name, ours) inside a block, then outside the blocks.
DIFFUSERS_BLOCK_NAMES = (
    ("attn1.to_q", "self_attn.q"), ("attn1.to_k", "self_attn.k"), ("attn1.to_v", "self_attn.v"),
    ("attn1.to_out.0", "self_attn.o"), ("attn1.norm_q", "self_attn.norm_q"), ("attn1.norm_k", "self_attn.norm_k"),
    ("attn2.to_q", "cross_attn.q"), ("attn2.to_k", "cross_attn.k"), ("attn2.to_v", "cross_attn.v"),
    ("attn2.to_out.0", "cross_attn.o"), ("attn2.add_k_proj", "cross_attn.k_img"),
    ("attn2.add_v_proj", "cross_attn.v_img"), ("attn2.norm_q", "cross_attn.norm_q"),
    ("attn2.norm_k", "cross_attn.norm_k"), ("attn2.norm_added_k", "cross_attn.norm_k_img"),
    ("ffn.net.0.proj", "ffn.0"), ("ffn.net.2", "ffn.2"), ("norm2", "norm3"), ("scale_shift_table", "modulation"),
)
DIFFUSERS_NAMES = (
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("condition_embedder.image_embedder.ff.net.0.proj", "img_emb.proj.1"),
    ("condition_embedder.image_embedder.ff.net.2", "img_emb.proj.3"),
    ("proj_out", "head.head"),
    ("scale_shift_table", "head.modulation"),
)
LOW_RANK_SUFFIXES = {".lora_down.weight": "down", ".lora_up.weight": "up", ".lora_A.weight": "down",
                     ".lora_B.weight": "up", ".alpha": "alpha"}
DELTA_SUFFIXES = {".diff": "weight", ".diff_b": "bias", ".diff_m": "modulation"}
_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")


@dataclass
class LowRank:
    down: torch.Tensor | None = None
    up: torch.Tensor | None = None
    alpha: float | None = None

    @property
    def scale(self) -> float:
        return 1.0 if self.alpha is None else self.alpha / self.down.shape[0]

    def delta(self, shape: torch.Size, device: torch.device | None = None) -> torch.Tensor:
        """up @ down * scale in float32 on ``device`` (the weight's: a GPU computes it there in
        milliseconds), shaped like the weight (convolutions included)."""
        up, down = (m.to(device, torch.float32).flatten(1) for m in (self.up, self.down))
        return ((up @ down) * self.scale).reshape(shape)


@dataclass
class Lora:
    """A LoRA file in our module names: low-rank pairs per module, full deltas per parameter."""

    low_rank: dict[str, LowRank]
    deltas: dict[str, torch.Tensor]

    @property
    def size(self) -> int:
        return len(self.low_rank) + len(self.deltas)


def read_lora(source: str | Path | dict[str, torch.Tensor], model: nn.Module) -> Lora:
    """Read a LoRA (a safetensors path or a loaded state dict) and name its parts as in ``model``."""
    if isinstance(source, dict):
        state = source
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"LoRA file {path} does not exist; give the path of a .safetensors file")
        from safetensors.torch import load_file

        state = load_file(str(path))
    modules = dict(model.named_modules())
    params = {**dict(model.named_buffers()), **dict(model.named_parameters())}  # quantised layers hold buffers
    known = set(modules) | set(params)
    underscored = {name.replace(".", "_"): name for name in known if name}
    low_rank: dict[str, LowRank] = {}
    deltas: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in state.items():
        suffix = next((s for s in (*LOW_RANK_SUFFIXES, *DELTA_SUFFIXES) if key.endswith(s)), None)
        if suffix is None:
            unknown.append(key)
            continue
        name = _our_name(key[: -len(suffix)], known, underscored)
        if suffix in DELTA_SUFFIXES:
            target = _delta_target(name, DELTA_SUFFIXES[suffix], modules, params)
            if target is None:
                unknown.append(key)
            else:
                deltas[target] = tensor
            continue
        if name not in modules or not hasattr(modules[name], "weight"):
            unknown.append(key)
            continue
        part = low_rank.setdefault(name, LowRank())
        role = LOW_RANK_SUFFIXES[suffix]
        if role == "alpha":
            part.alpha = float(tensor)
        else:
            setattr(part, role, tensor)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise InputError(f"LoRA keys that match nothing in this SCAIL model: {shown}. Use a LoRA made for "
                         "Wan2.1-I2V-14B / SCAIL in the kohya, diffusers/PEFT, lightx2v or ComfyUI key layout "
                         "(README \"LoRAs\")")
    incomplete = [name for name, part in low_rank.items() if part.down is None or part.up is None]
    if incomplete:
        raise InputError(f"LoRA modules with only one of their down/up (A/B) matrices: {', '.join(incomplete[:5])}; "
                         "the file is truncated or not a LoRA")
    return Lora(low_rank, deltas)


def _our_name(name: str, known: set[str], underscored: dict[str, str]) -> str | None:
    """Our module (or parameter) name for a LoRA key's stem, or None if it names nothing here."""
    for prefix in PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if name in known:
        return name
    if name in underscored:
        return underscored[name]
    match = _BLOCK.match(name)
    if match:
        index, rest = match.groups()
        name = f"blocks.{index}.{dict(DIFFUSERS_BLOCK_NAMES).get(rest, rest)}"
    else:
        name = dict(DIFFUSERS_NAMES).get(name, name)
    return name if name in known else None


def _delta_target(name: str | None, kind: str, modules: dict[str, nn.Module],
                  params: dict[str, nn.Parameter]) -> str | None:
    """The parameter a full delta changes: a module's weight or bias, or a bare parameter (modulation)."""
    if name is None:
        return None
    if name in params and kind == "weight":
        return name
    if kind == "modulation":  # lightx2v's diff_m names the block (or head) that owns the modulation
        candidate = f"{name}.modulation" if name else "modulation"
        return candidate if candidate in params else None
    candidate = f"{name}.{kind}"
    return candidate if candidate in params else None


def merge_lora(model: nn.Module, lora: Lora, strength: float = 1.0) -> int:
    """Add the LoRA into the weights in place (in float32, stored back in each weight's dtype);
    into quantised layers as the module docstring says."""
    # Buffers too: fp8 and GGML layers keep their weights and biases as buffers.
    params = {**dict(model.named_buffers()), **dict(model.named_parameters())}
    modules = dict(model.named_modules())
    packed = [name for name in lora.deltas if name.endswith(".weight") and isinstance(modules.get(name[:-7]), PATCHED)]
    if packed:
        raise InputError(f"this LoRA replaces whole weights ({packed[0]}) of a GGUF, int8, mxfp8 or nvfp4 model's "
                         "quantised layers; use it with the fp16/bf16 or fp8 file of the model")
    with torch.no_grad():
        for name, part in lora.low_rank.items():
            module = modules[name]
            if isinstance(module, PATCHED):
                device = module.weight.device
                module.patches.append((part.down.float().flatten(1).to(device),
                                       (part.up.float().flatten(1) * part.scale).to(device), strength))
            elif isinstance(module, Fp8Linear):
                module.requantise_(strength * part.delta(module.weight.shape, module.weight.device))
            else:
                weight = params[f"{name}.weight"]
                _add(weight, strength * part.delta(weight.shape, weight.device))
        for name, delta in lora.deltas.items():
            module = modules.get(name.rpartition(".")[0])
            if isinstance(module, Fp8Linear) and name.endswith(".weight"):
                module.requantise_(strength * delta.float().reshape(module.weight.shape))
            else:
                _add(params[name], strength * delta.float().reshape(params[name].shape))
    log.info("merged LoRA into %d modules and %d parameters (strength %g)", len(lora.low_rank),
             len(lora.deltas), strength)
    return lora.size


def _add(param: torch.Tensor, delta: torch.Tensor) -> None:
    param.copy_((param.float() + delta.to(param.device)).to(param.dtype))


def attach_lora(model: nn.Module, lora: Lora, strength: float = 1.0,
                device: str | torch.device | None = None) -> list:
    """Apply the low-rank pairs on the fly (forward hooks); full deltas are merged. Returns the hooks.

    Only linear layers (bf16 or fp8) take live pairs; the pairs live on ``device`` (default: each
    layer's own, which for offloaded blocks is the host: give the compute device then). Call
    ``handle.remove()`` on each hook to detach.
    """
    modules = dict(model.named_modules())
    non_linear = [name for name in lora.low_rank if not isinstance(modules[name], (nn.Linear, Fp8Linear, *PATCHED))]
    if non_linear:
        raise InputError(f"live LoRA works on linear layers only, not {', '.join(non_linear[:3])}; merge it instead")
    merge_lora(model, Lora({}, lora.deltas), strength)
    hooks = []
    for name, part in lora.low_rank.items():
        module = modules[name]
        target = module.weight.device if device is None else torch.device(device)
        down = part.down.to(target, torch.float32)
        up = (part.up.float() * part.scale * strength).to(target)

        def hook(_module: nn.Module, args: tuple, out: torch.Tensor, down=down, up=up) -> torch.Tensor:
            return out + F.linear(F.linear(args[0].float(), down), up).to(out.dtype)

        hooks.append(module.register_forward_hook(hook))
    return hooks
