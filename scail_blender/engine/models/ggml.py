"""GGML-quantised linear layers (GGUF files): the file's bytes stay in memory, each call
dequantises its own weight, so a Q8_0 or Q4_K DiT runs in about its file's size.

The block layouts are GGML's (ggml-common.h; the ``gguf`` package's ``quants.py`` is the
reference the tests compare with, bit for bit). The common types are dequantised here in torch,
on whatever device the bytes live (the GPU in a job), vectorised over all blocks of a tensor:

- Q8_0, Q4_0, Q4_1, Q5_0, Q5_1: blocks of 32 weights with an fp16 scale (and minimum);
- Q4_K, Q5_K, Q6_K: super-blocks of 256 weights, 8 or 16 sub-blocks with 6- or 8-bit scales.

Other types ``gguf.quants`` can read (Q2_K, Q3_K, the IQ types) go through its NumPy code on the
host each call: correct, but slow on a GPU; a warning says so once per model.
F32, F16 and BF16 tensors are not quantised and load as ordinary weights.
"""

from __future__ import annotations

import logging

import torch

from .packed_linear import PackedLinear

log = logging.getLogger(__name__)

# GGML type ids (gguf.GGMLQuantizationType) -> (weights per block, bytes per block).
Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K = 2, 3, 6, 7, 8, 10, 11, 12, 13, 14
BLOCKS = {Q4_0: (32, 18), Q4_1: (32, 20), Q5_0: (32, 22), Q5_1: (32, 24), Q8_0: (32, 34),
          Q4_K: (256, 144), Q5_K: (256, 176), Q6_K: (256, 210)}


def _half(blocks: torch.Tensor, start: int) -> torch.Tensor:
    """The fp16 field at byte ``start`` of each block, as float32 [blocks, 1]."""
    return blocks[:, start:start + 2].contiguous().view(torch.float16).float()


def _nibbles(packed: torch.Tensor) -> torch.Tensor:
    """Low nibbles first, then high nibbles, along the last axis (GGML's order in 32-blocks)."""
    return torch.cat([packed & 0x0F, packed >> 4], dim=-1)


def _bits(packed: torch.Tensor, count: int) -> torch.Tensor:
    """Bit j of a little-endian bit field, j = 0 .. count-1 (uint8 [blocks, count])."""
    shifts = torch.arange(8, dtype=torch.uint8, device=packed.device)
    return ((packed.unsqueeze(-1) >> shifts) & 1).flatten(-2)[..., :count]


def _k_scales(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 8 six-bit scales and mins of a Q4_K/Q5_K super-block (12 packed bytes each)."""
    s = packed.to(torch.int32)
    scales = torch.cat([s[:, 0:4] & 63, (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)], dim=1)
    mins = torch.cat([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], dim=1)
    return scales.float().unsqueeze(-1), mins.float().unsqueeze(-1)


# Each works in place on one float32 tensor of the layer's size (the scales are per block), so
# dequantising a layer takes about its float32 size plus its bytes, not several copies.
def _q8_0(b: torch.Tensor) -> torch.Tensor:
    return b[:, 2:].contiguous().view(torch.int8).float().mul_(_half(b, 0))


def _q4_0(b: torch.Tensor) -> torch.Tensor:
    return _nibbles(b[:, 2:18]).float().sub_(8).mul_(_half(b, 0))


def _q4_1(b: torch.Tensor) -> torch.Tensor:
    return _nibbles(b[:, 4:20]).float().mul_(_half(b, 0)).add_(_half(b, 2))


def _q5_0(b: torch.Tensor) -> torch.Tensor:
    q = _nibbles(b[:, 6:22]) | (_bits(b[:, 2:6], 32) << 4)
    return q.float().sub_(16).mul_(_half(b, 0))


def _q5_1(b: torch.Tensor) -> torch.Tensor:
    q = _nibbles(b[:, 8:24]) | (_bits(b[:, 4:8], 32) << 4)
    return q.float().mul_(_half(b, 0)).add_(_half(b, 2))


def _q4_k(b: torch.Tensor) -> torch.Tensor:
    scales, mins = _k_scales(b[:, 4:16])
    q = _nibbles(b[:, 16:144].reshape(-1, 4, 32)).reshape(-1, 8, 32)  # sub-block 2j low, 2j+1 high
    return q.float().mul_(_half(b, 0).unsqueeze(-1) * scales).sub_(_half(b, 2).unsqueeze(-1) * mins).flatten(1)


def _q5_k(b: torch.Tensor) -> torch.Tensor:
    scales, mins = _k_scales(b[:, 4:16])
    low = _nibbles(b[:, 48:176].reshape(-1, 4, 32)).reshape(-1, 8, 32)
    shifts = torch.arange(8, dtype=torch.uint8, device=b.device).view(1, 8, 1)
    high = (b[:, 16:48].unsqueeze(1) >> shifts) & 1  # sub-block i takes bit i of each qh byte
    q = (low | (high << 4)).float()
    return q.mul_(_half(b, 0).unsqueeze(-1) * scales).sub_(_half(b, 2).unsqueeze(-1) * mins).flatten(1)


def _q6_k(b: torch.Tensor) -> torch.Tensor:
    ql = b[:, 0:128].reshape(-1, 2, 64)
    qh = b[:, 128:192].reshape(-1, 2, 32)
    low = torch.stack([ql[..., :32] & 0x0F, ql[..., 32:] & 0x0F, ql[..., :32] >> 4, ql[..., 32:] >> 4], dim=2)
    high = torch.stack([qh & 3, (qh >> 2) & 3, (qh >> 4) & 3, (qh >> 6) & 3], dim=2)
    q = (low | (high << 4)).float().sub_(32)  # [blocks, half, quarter, 32]
    scales = b[:, 192:208].contiguous().view(torch.int8).float().reshape(-1, 2, 4, 2, 1)
    d = _half(b, 208).reshape(-1, 1, 1, 1, 1)
    return q.reshape(-1, 2, 4, 2, 16).mul_(d * scales).flatten(1)


_DEQUANTISE = {Q8_0: _q8_0, Q4_0: _q4_0, Q4_1: _q4_1, Q5_0: _q5_0, Q5_1: _q5_1, Q4_K: _q4_k,
               Q5_K: _q5_k, Q6_K: _q6_k}


def dequantise(raw: torch.Tensor, qtype: int, shape: tuple[int, ...],
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The weights a GGML-quantised tensor's bytes stand for, shaped ``shape``, in ``dtype``.

    Computed in float32 on the bytes' device (exactly what ``gguf.quants.dequantize`` gives for
    the types dequantised here), then cast; other types go through ``gguf.quants`` on the host.
    """
    function = _DEQUANTISE.get(qtype)
    if function is None:
        import gguf

        values = gguf.quants.dequantize(raw.cpu().numpy(), gguf.GGMLQuantizationType(qtype))
        return torch.from_numpy(values).reshape(shape).to(raw.device, dtype)
    return function(raw.reshape(-1, BLOCKS[qtype][1])).reshape(shape).to(dtype)


def native(qtype: int) -> bool:
    """Whether ``qtype`` is dequantised in torch on the device (else through NumPy on the host)."""
    return qtype in _DEQUANTISE


class GgmlLinear(PackedLinear):
    """A Linear whose weight stays in its GGML bytes (``weight``, the raw uint8 buffer) and is
    dequantised at each call (packed_linear.py)."""

    def __init__(self, raw: torch.Tensor, qtype: int, shape: tuple[int, int], bias: torch.Tensor | None,
                 compute_dtype: torch.dtype) -> None:
        super().__init__({"weight": raw}, shape, bias, compute_dtype)
        self.qtype = qtype

    def unpacked(self) -> torch.Tensor:
        return dequantise(self.weight, self.qtype, self.shape, torch.float32)

    def storage(self) -> str:
        return f"qtype={self.qtype}"
