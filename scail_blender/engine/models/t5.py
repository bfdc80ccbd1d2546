"""The umT5-xxl text encoder, parameter names as in ``models_t5_umt5-xxl-enc-bf16.pth``.

Only the encoder is needed. Written here (about a hundred lines) instead of pulling in
transformers: the official file then loads by its own names, and the two details that matter
for matching Wan's numbers stay visible: every block owns its relative-position bias (umT5 does
not share it), and attention logits are not scaled by 1/sqrt(d) (T5 folds that into the weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class T5Config:
    vocab_size: int = 256384
    dim: int = 4096
    dim_attn: int = 4096
    dim_ffn: int = 10240
    num_heads: int = 64
    num_layers: int = 24
    num_buckets: int = 32
    max_distance: int = 128
    eps: float = 1e-6


class T5LayerNorm(nn.Module):
    """RMS norm without mean subtraction or bias, computed in float32."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() * torch.rsqrt(x.float().pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return self.weight * x.type_as(self.weight)


class RelativePositionBias(nn.Module):
    """Bidirectional bucketed relative positions: exact below 8, log-spaced up to 128."""

    def __init__(self, num_buckets: int, num_heads: int, max_distance: int) -> None:
        super().__init__()
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.embedding = nn.Embedding(num_buckets, num_heads)

    def buckets(self, length: int, device: torch.device) -> torch.Tensor:
        pos = torch.arange(length, device=device)
        rel = pos[None, :] - pos[:, None]  # key minus query
        half = self.num_buckets // 2
        out = (rel > 0).long() * half
        rel = rel.abs()
        exact = half // 2
        far = exact + (torch.log(rel.float() / exact) / math.log(self.max_distance / exact) * (half - exact)).long()
        far = far.clamp(max=half - 1)
        return out + torch.where(rel < exact, rel, far)

    def forward(self, length: int) -> torch.Tensor:
        bias = self.embedding(self.buckets(length, self.embedding.weight.device))  # [L, L, heads]
        return bias.permute(2, 0, 1).unsqueeze(0)


class T5Attention(nn.Module):
    def __init__(self, dim: int, dim_attn: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim_attn, bias=False)
        self.k = nn.Linear(dim, dim_attn, bias=False)
        self.v = nn.Linear(dim, dim_attn, bias=False)
        self.o = nn.Linear(dim_attn, dim, bias=False)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n = x.shape[0], self.num_heads
        q, k, v = (proj(x).view(b, -1, n, proj.out_features // n).transpose(1, 2) for proj in (self.q, self.k, self.v))
        logits = q @ k.transpose(-1, -2) + bias
        y = F.softmax(logits.float(), dim=-1).type_as(v) @ v
        return self.o(y.transpose(1, 2).flatten(2))


class T5FeedForward(nn.Module):
    """Gated GELU (tanh approximation): fc2(fc1(x) * gelu(gate(x)))."""

    def __init__(self, dim: int, dim_ffn: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(dim, dim_ffn, bias=False), nn.GELU(approximate="tanh"))
        self.fc1 = nn.Linear(dim, dim_ffn, bias=False)
        self.fc2 = nn.Linear(dim_ffn, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x) * self.gate(x))


class T5Block(nn.Module):
    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.norm1 = T5LayerNorm(cfg.dim, cfg.eps)
        self.attn = T5Attention(cfg.dim, cfg.dim_attn, cfg.num_heads)
        self.norm2 = T5LayerNorm(cfg.dim, cfg.eps)
        self.ffn = T5FeedForward(cfg.dim, cfg.dim_ffn)
        self.pos_embedding = RelativePositionBias(cfg.num_buckets, cfg.num_heads, cfg.max_distance)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        bias = self.pos_embedding(x.shape[1]).type_as(x) + mask_bias
        x = _clamp_fp16(x + self.attn(self.norm1(x), bias))
        return _clamp_fp16(x + self.ffn(self.norm2(x)))


def _clamp_fp16(x: torch.Tensor) -> torch.Tensor:
    """float16 T5 overflows in the FFN; clamping as Wan does keeps it finite."""
    if x.dtype == torch.float16 and torch.isinf(x).any():
        limit = torch.finfo(x.dtype).max - 1000
        x = x.clamp(-limit, limit)
    return x


class T5Encoder(nn.Module):
    def __init__(self, cfg: T5Config = T5Config()) -> None:
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.blocks = nn.ModuleList(T5Block(cfg) for _ in range(cfg.num_layers))
        self.norm = T5LayerNorm(cfg.dim, cfg.eps)

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, L] token ids and 0/1 mask -> [B, L, dim], with padded positions set to zero.

        Wan trims each embedding to its real length and the DiT pads it back with zeros to 512;
        zeroing the padded rows here gives the same context in one tensor.
        """
        x = self.token_embedding(ids)
        mask_bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
        mask_bias = mask_bias.masked_fill(mask == 0, torch.finfo(x.dtype).min)[:, None, None, :]
        for block in self.blocks:
            x = block(x, mask_bias)
        x = self.norm(x)
        return x * mask[..., None].to(x.dtype)
