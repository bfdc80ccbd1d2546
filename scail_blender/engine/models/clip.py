"""The vision tower of open-clip xlm-roberta-large ViT-H/14, as Wan and SCAIL use it.

Parameter names follow ``models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth`` under its
``visual.`` prefix (the text tower and logit scale of that file are not needed and are skipped).
The image features are the 257 x 1280 tokens after the penultimate block, without the final
norm or projection: that is what the I2V cross-attention was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .wan_block import LayerNorm

# open-clip's normalisation of [0, 1] pixels.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ClipConfig:
    image_size: int = 224
    patch_size: int = 14
    dim: int = 1280
    mlp_ratio: int = 4
    num_heads: int = 16
    num_layers: int = 32
    out_dim: int = 1024
    eps: float = 1e-5


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, c = x.shape
        q, k, v = self.to_qkv(x).view(b, s, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, c))


class Block(nn.Module):
    def __init__(self, cfg: ClipConfig) -> None:
        super().__init__()
        self.norm1 = LayerNorm(cfg.dim, eps=cfg.eps)
        self.attn = SelfAttention(cfg.dim, cfg.num_heads)
        self.norm2 = LayerNorm(cfg.dim, eps=cfg.eps)
        hidden = cfg.dim * cfg.mlp_ratio
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, hidden), nn.GELU(), nn.Linear(hidden, cfg.dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ClipVision(nn.Module):
    """ViT with a class token and pre-norm; ``features`` stops one block before the end."""

    def __init__(self, cfg: ClipConfig = ClipConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        grid = cfg.image_size // cfg.patch_size
        self.patch_embedding = nn.Conv2d(3, cfg.dim, cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.cls_embedding = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, grid * grid + 1, cfg.dim))
        self.pre_norm = LayerNorm(cfg.dim, eps=cfg.eps)
        self.transformer = nn.Sequential(*(Block(cfg) for _ in range(cfg.num_layers)))
        # Kept so the released file loads completely; unused by ``features``.
        self.post_norm = LayerNorm(cfg.dim, eps=cfg.eps)
        self.head = nn.Parameter(torch.zeros(cfg.dim, cfg.out_dim))

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] (any size) -> [B, 1 + grid^2, dim]."""
        dtype = self.patch_embedding.weight.dtype
        size = (self.cfg.image_size,) * 2
        x = F.interpolate(images.float(), size=size, mode="bicubic", align_corners=False)
        mean = x.new_tensor(CLIP_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(CLIP_STD).view(1, 3, 1, 1)
        x = ((x * 0.5 + 0.5 - mean) / std).to(dtype)
        x = self.patch_embedding(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_embedding.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.pre_norm(x + self.pos_embedding)
        return self.transformer[:-1](x)


def visual_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The vision tower's tensors from an official CLIP file (full or visual-only), prefix removed."""
    return {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
