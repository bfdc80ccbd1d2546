"""FP8 (e4m3) linear layers for the DiT blocks: half the weight memory, twice the matmul rate.

Two sources: the fp8 speed mode converts bf16 linears here (``from_linear``), and fp8 DiT files
(ComfyUI's scaled fp8, kijai's e4m3fn; checkpoints/comfy.py) load straight into them, weights
never widened. Where the device has fp8 matmuls (CUDA compute capability 8.9 and up: Ada,
Hopper) both run ``torch._scaled_mm``. Elsewhere a file's layers dequantise their weight at each
call (weight-only: one layer's bf16 copy at a time, inputs untouched), while the speed mode's
layers keep emulating the fp8 matmul (below) so that the CPU tests measure that recipe.

Weights get one scale per output channel (amax / 448), fixed at conversion; activations get a
dynamic scale per tensor, computed on the device each call, so nothing is read back to the host
(a scale per row, i.e. per token, was measured on an H200: no faster and no more accurate). On
CUDA the product runs in ``torch._scaled_mm`` (fp8 tensor cores, Hopper and Ada); anywhere else
the same quantisation is emulated (quantise, dequantise, float32 matmul), which gives the same
numbers up to float32 rounding and lets the CPU tests measure the error of the recipe. Only the
blocks' linears are converted; embeddings, the head and the norms keep their precision, as fp8
checkpoints of Wan do.
"""

from __future__ import annotations

import functools
import logging

import torch
import torch.nn.functional as F
from torch import nn

from .wan_block import Linear

log = logging.getLogger(__name__)

FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0


def quantize_fp8(x: torch.Tensor, dim: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """e4m3 values and float32 scales of x: one scale overall (dim None) or one per slice along dim.

    Works in x's own dtype (bf16 activations: no float32 copy of a [tokens, 13824] input) with
    the scale rounded to that dtype first, so that values * scale is what was quantised.
    """
    low, high = torch.aminmax(x) if dim is None else torch.aminmax(x, dim=dim, keepdim=True)
    amax = torch.maximum(-low, high).float()
    scale = (amax.clamp_min(1e-12) / FP8_MAX).to(x.dtype)
    return (x / scale).clamp_(-FP8_MAX, FP8_MAX).to(FP8), scale.float()


@functools.cache
def has_fp8_matmul(device: torch.device) -> bool:
    """Whether ``torch._scaled_mm`` runs fp8 on this device (CUDA compute capability 8.9+)."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


class Fp8Linear(nn.Module):
    """A Linear whose weight is stored in e4m3 with per-output-channel scales."""

    def __init__(self, weight: torch.Tensor, weight_scale: torch.Tensor, bias: torch.Tensor | None,
                 compute_dtype: torch.dtype, emulate: bool = False) -> None:
        super().__init__()
        self.register_buffer("weight", weight)                 # e4m3 [out, in]
        self.register_buffer("weight_scale", weight_scale)     # float32 [out, 1]
        self.register_buffer("bias", bias)                     # compute dtype [out] or None
        self.compute_dtype = compute_dtype
        self.emulate = emulate  # without fp8 matmuls: emulate them (speed mode) or dequantise (files)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Fp8Linear:
        weight, scale = quantize_fp8(linear.weight.detach(), dim=1)
        bias = None if linear.bias is None else linear.bias.detach()
        return cls(weight, scale, bias, linear.weight.dtype, emulate=True)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def dequantised(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The weight as floats (scale applied in float32), in ``dtype`` or the compute dtype."""
        return self.weight.float().mul_(self.weight_scale).to(dtype or self.compute_dtype)

    def requantise_(self, delta: torch.Tensor) -> None:
        """Add ``delta`` (float32, the weight's shape) to the weight: dequantised, added, and
        quantised again with one scale per output channel (a LoRA merge; lora.py)."""
        self.weight, self.weight_scale = quantize_fp8(self.dequantised(torch.float32) + delta.to(self.weight.device), dim=1)

    @property
    def input_dtype(self) -> torch.dtype:
        return self.compute_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        if not has_fp8_matmul(x.device) and not self.emulate:
            bias = None if self.bias is None else self.bias.to(self.compute_dtype)
            return F.linear(x.to(self.compute_dtype), self.dequantised(), bias)
        x8, x_scale = quantize_fp8(rows, dim=None)
        if has_fp8_matmul(x.device):
            out = torch._scaled_mm(x8, self.weight.t(), scale_a=x_scale.reshape(-1, 1).expand(rows.shape[0], 1).contiguous(),
                                   scale_b=self.weight_scale.reshape(1, -1), out_dtype=self.compute_dtype)
        else:
            out = F.linear(x8.float() * x_scale, self.weight.float() * self.weight_scale).to(self.compute_dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], -1)


def convert_blocks_to_fp8(blocks: nn.Module) -> int:
    """Replace every Linear inside ``blocks`` by an Fp8Linear in place; returns how many."""
    targets = [(name, module) for name, module in blocks.named_modules() if isinstance(module, Linear)]
    for name, module in targets:
        parent_name, _, leaf = name.rpartition(".")
        parent = blocks.get_submodule(parent_name) if parent_name else blocks
        setattr(parent, leaf, Fp8Linear.from_linear(module))
    log.info("converted %d linears to fp8", len(targets))
    return len(targets)
