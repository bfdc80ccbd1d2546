"""Attention kernels of the DiT, chosen by name in this one place (as diffusers' dispatch does).

Every kernel takes q, k, v as [B, heads, L, head_dim] (the layout the fused kernels read: the
callers pass transposed views of their [B, L, heads, head_dim] projections, which cost no copy)
and returns [B, heads, Lq, head_dim] in v's dtype.

- ``sdpa``: ``F.scaled_dot_product_attention`` with torch's own kernel choice. This is the plain
  path the parity tests and the benchmark compare against.
- ``auto``: the same exact attention with the fastest kernel installed: on a Hopper or Blackwell
  GPU with flash-attn-4, ``fa4`` (1.20x cuDNN at the 14B step's shape on an H100,
  bench/attention.py); otherwise SDPA pinned to cuDNN first, then flash, then memory-efficient
  (``sdpa_kernel(..., set_priority=True)``); off CUDA the same as ``sdpa``.
- ``cudnn``, ``flash``, ``efficient``, ``math``: one SDPA kernel only (fails if it cannot run),
  for the benchmark.
- ``sage``: 8-bit attention (SageAttention's recipe: K smoothed by its mean over tokens, Q and K
  quantised to int8 per block of tokens, P and V in fp16). Uses the ``sageattention`` package's
  CUDA kernels when it is installed, otherwise the torch version below, which computes the same
  quantised maths exactly but block by block in float32: it is there to test the error of the
  recipe, not for speed (on CUDA without the package it refuses to run rather than crawl). Only
  self-attention uses it; cross-attention (769 keys) stays exact.
- ``fa4``: FlashAttention-4's CuTe kernels (package ``flash-attn-4``; Hopper and Blackwell, bf16
  and fp16, compiled at first call and cached by the package). Exact attention like ``auto``, a
  different kernel: it reads the [B, L, heads, head_dim] layout the projections already have. Never
  downloaded at run time; refused with what to install when absent.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

log = logging.getLogger(__name__)

KERNELS = ("auto", "sdpa", "cudnn", "flash", "efficient", "math", "sage", "fa4")
_PINNED = {
    "cudnn": [SDPBackend.CUDNN_ATTENTION],
    "flash": [SDPBackend.FLASH_ATTENTION],
    "efficient": [SDPBackend.EFFICIENT_ATTENTION],
    "math": [SDPBackend.MATH],
}
_AUTO_CUDA = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
              SDPBackend.MATH]
# SageAttention's block sizes for Q and K quantisation (one scale per block per head).
SAGE_Q_BLOCK = 128
SAGE_K_BLOCK = 64
# Query rows per chunk of the torch version, so that scores never need L x L memory at once.
SAGE_Q_CHUNK = 1024


def check_kernel(name: str) -> str:
    if name not in KERNELS:
        raise ValueError(f"unknown attention kernel {name!r}; choose one of {', '.join(KERNELS)}")
    return name


def exact_kernel(name: str) -> str:
    """The kernel for attention that must stay exact (cross-attention): sage falls back to auto."""
    return "auto" if name == "sage" else check_kernel(name)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel: str = "sdpa") -> torch.Tensor:
    """Softmax attention of q [B, H, Lq, D] over k, v [B, H, Lk, D] with the named kernel."""
    if kernel == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    if kernel == "sage":
        return sage_attention(q, k, v)
    if kernel == "fa4":
        return fa4_attention(q, k, v)
    if kernel == "auto":
        if q.device.type != "cuda":
            return F.scaled_dot_product_attention(q, k, v)
        if fa4_runs_on(q):
            return fa4_attention(q, k, v)
        with sdpa_kernel(_AUTO_CUDA, set_priority=True):
            return F.scaled_dot_product_attention(q, k, v)
    with sdpa_kernel(_PINNED[check_kernel(kernel)]):
        return F.scaled_dot_product_attention(q, k, v)


def sage_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """8-bit attention: the sageattention kernels on CUDA when installed, else the torch maths."""
    if q.device.type != "cuda":
        return sage_reference(q, k, v)
    if not has_sageattention():
        raise RuntimeError(SAGE_MISSING)
    from sageattention import sageattn

    return sageattn(q, k, v, tensor_layout="HND", is_causal=False)


SAGE_MISSING = ("attention 'sage' on a GPU needs the sageattention package (pip install sageattention "
                "into the server's Python); use attention 'auto' without it")


def fa4_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """FlashAttention-4 on [B, H, L, D] views: transposed back to the [B, L, H, D] it reads (no copy)."""
    if q.device.type != "cuda" or not has_fa4():
        raise RuntimeError(FA4_MISSING)
    from flash_attn.cute import flash_attn_func

    out = flash_attn_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    out = out[0] if isinstance(out, tuple) else out
    return out.transpose(1, 2).to(v.dtype)


FA4_MISSING = ("attention 'fa4' needs a Hopper or Blackwell GPU and the flash-attn-4 package (pip install "
               "flash-attn-4 into the server's Python); use attention 'auto' without it")


@functools.cache
def has_fa4() -> bool:
    return importlib.util.find_spec("flash_attn") is not None and importlib.util.find_spec("flash_attn.cute") is not None


def fa4_runs_on(q: torch.Tensor) -> bool:
    """Whether ``auto`` takes FlashAttention-4 for q: installed, a Hopper/Blackwell GPU, bf16/fp16, head <= 256."""
    return (has_fa4() and q.dtype in (torch.bfloat16, torch.float16) and q.shape[-1] <= 256
            and torch.cuda.get_device_capability(q.device)[0] in (9, 10, 11))


def has_sageattention() -> bool:
    return importlib.util.find_spec("sageattention") is not None


def quantize_int8_blocks(x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per block of ``block`` tokens per head: values [B, H, L, D] (as float) and scales.

    Returns the integer values (stored as float32, they are exact) and the scale of each token's
    block broadcast to [B, H, L, 1], so that x ~ values * scale.
    """
    b, h, length, d = x.shape
    pad = -length % block
    xf = F.pad(x.float(), (0, 0, 0, pad)).view(b, h, -1, block, d)
    scale = xf.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-8) / 127.0
    values = torch.round(xf / scale).clamp_(-127, 127)
    scale = scale.expand(-1, -1, -1, block, 1)
    def unblock(t):
        return t.reshape(b, h, -1, t.shape[-1])[:, :, :length]
    return unblock(values), unblock(scale)


def sage_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """SageAttention's quantised attention written out in torch (any device, slow, exact maths).

    K minus its mean over tokens leaves every softmax row unchanged (it shifts each row by a
    constant) but removes the large shared channel offsets that would waste the int8 range.
    The int8 products are summed in float32, which is exact for heads of up to 1024 channels
    (127^2 * 1024 < 2^24). P and V are rounded to fp16, the precision of SageAttention's PV
    product; its fp32 accumulation is matched by summing in float32.
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    k = k.float() - k.float().mean(dim=2, keepdim=True)
    q_int, q_scale = quantize_int8_blocks(q, SAGE_Q_BLOCK)
    k_int, k_scale = quantize_int8_blocks(k, SAGE_K_BLOCK)
    v16 = v.to(torch.float16).float()
    k_scale_row = k_scale[..., 0].unsqueeze(2)  # [B, H, 1, Lk]
    out = torch.empty(*q.shape[:-1], v.shape[-1], dtype=torch.float32, device=q.device)
    for start in range(0, q.shape[2], SAGE_Q_CHUNK):
        rows = slice(start, start + SAGE_Q_CHUNK)
        scores = (q_int[:, :, rows] @ k_int.transpose(-1, -2)) * q_scale[:, :, rows] * k_scale_row * scale
        p = torch.softmax(scores, dim=-1).to(torch.float16).float()
        out[:, :, rows] = p @ v16
    return out.to(v.dtype)
