"""The plain Wan2.1-I2V DiT, with one hook for tokens added after the patch embedding.

MultiAnimate (and UniAnimate-DiT before it) keeps Wan2.1-I2V-14B's network as it is: 36 input
channels (16 noisy latent + 4 first-frame mask + 16 VAE latent of the reference image), the
video's tokens only (no reference or pose tokens in the sequence, unlike SCAIL), standard 3D RoPE
from position 0 on every axis, and cross-attention to 257 CLIP + 512 umT5 tokens. Its only change
is ``condition``: pose and identity tokens [B, f*h*w, dim] (multianimate/encoders.py) added to
the patch tokens before the first block, in the same (frame, row, column) order.

Blocks, head, embeddings and precision are the engine's Wan parts (dit.WanParts, wan_block.py),
shared with SCAIL, so the speed modes (attention kernel, fp8, block offload, compile, step cache)
apply here unchanged. Parameter names are the official Wan names of the published shards.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...errors import InputError
from .dit import BlockResidual, PatchEmbed, WanParts
from .rope import grid_factors


@dataclass(frozen=True)
class WanI2VConfig:
    """Sizes of a Wan2.1-I2V DiT (defaults: the released 14B)."""

    dim: int = 5120
    ffn_dim: int = 13824
    num_heads: int = 40
    num_layers: int = 40
    in_dim: int = 36
    out_dim: int = 16
    freq_dim: int = 256
    text_dim: int = 4096
    text_len: int = 512
    clip_dim: int = 1280
    patch_size: tuple[int, int, int] = (1, 2, 2)
    eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.dim % self.num_heads or (self.dim // self.num_heads) % 2:
            raise ValueError(f"dim {self.dim} does not split into {self.num_heads} heads of even size")
        if self.in_dim != self.out_dim + 20:
            raise ValueError(f"an I2V DiT takes the latent plus 20 conditioning channels: in_dim "
                             f"{self.in_dim} != out_dim {self.out_dim} + 20")

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads


# Heads of 128 like the real model, so the 44/42/42 RoPE split is the one under test.
TINY = WanI2VConfig(dim=256, ffn_dim=512, num_heads=2, num_layers=2, text_dim=64, clip_dim=64)


class WanI2VDiT(WanParts, nn.Module):
    """The network; build it on the meta device and load weights with multianimate.checkpoint."""

    def __init__(self, config: WanI2VConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embedding = PatchEmbed(config.in_dim, config.dim, config.patch_size)
        self.build_wan_parts(config)

    def rope_factors(self, grid: tuple[int, int, int], device: torch.device) -> torch.Tensor:
        """Real [f*h*w, head_dim // 2, 2] float32 RoPE factors of a token grid, kept per grid and device."""
        key = (grid, device)
        factors = self._rope_cache.get(key)
        if factors is None:
            complex_factors = grid_factors(*grid, t0=0, h0=0, w0=0, head_dim=self.config.head_dim)
            factors = torch.view_as_real(complex_factors.to(torch.complex64)).to(device)
            self._rope_cache = {key: factors}
        return factors

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, clip_fea: torch.Tensor,
                y: torch.Tensor, condition: torch.Tensor | None = None, *,
                residual: BlockResidual | None = None) -> torch.Tensor:
        """Predict the flow velocity of the video latent.

        x [B, 16, T, h, w] noisy latent; t [B] timesteps (sigma * 1000); context [B, L <= 512,
        text_dim] umT5 embeddings (zero-padded to 512 here); clip_fea [B, 257, clip_dim];
        y [B, 20, T, h, w] the I2V conditioning (4 mask + 16 latent channels, with MultiAnimate's
        reference-pose features already added); condition [B, f*h*w, dim] tokens added after the
        patch embedding, or None (MultiAnimate's unconditional pass). Returns float32 [B, 16, T, h, w].
        """
        grid = self.check_inputs(x, t, context, clip_fea, y, condition)
        tokens = self.patch_embedding(torch.cat([x, y], dim=1)).flatten(2).transpose(1, 2)
        if condition is not None:
            tokens = condition.to(tokens.dtype) + tokens
        time, time6 = self.time_modulation(t)
        if residual is not None and residual.reuse:
            tokens = tokens + residual.value
        else:
            text, image = self.embed_context(context, clip_fea)
            rope = self.rope_factors(grid, tokens.device)
            start = tokens if residual is not None else None
            for block in self.blocks if self.offload is None else self.offload:
                tokens = block(tokens, time6, text, image, rope)
            if residual is not None:
                residual.value = tokens - start
        return self.unpatchify(self.head(tokens, time), grid)

    def check_inputs(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, clip_fea: torch.Tensor,
                     y: torch.Tensor, condition: torch.Tensor | None) -> tuple[int, int, int]:
        """Check every shape against x's and return the token grid (frames, rows, cols)."""
        c = self.config
        pt, ph, pw = c.patch_size
        if x.ndim != 5 or x.shape[1] != c.out_dim:
            raise InputError(f"x must be [B, {c.out_dim}, T, h, w] (the noisy latent), got {list(x.shape)}")
        b, _, frames, h, w = x.shape
        if frames % pt or h % ph or w % pw:
            raise InputError(f"latent size {frames}x{h}x{w} must divide by the patch {pt}x{ph}x{pw}; "
                             "pick a video size that is a multiple of 16 pixels")
        grid = (frames // pt, h // ph, w // pw)
        checks = [("t", t, (b,)), ("context", context, (b, None, c.text_dim)),
                  ("clip_fea", clip_fea, (b, None, c.clip_dim)),
                  ("y", y, (b, c.in_dim - c.out_dim, frames, h, w))]
        if condition is not None:
            checks.append(("condition", condition, (b, grid[0] * grid[1] * grid[2], c.dim)))
        for name, tensor, shape in checks:
            if tensor.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, tensor.shape)):
                wanted = ", ".join("*" if s is None else str(s) for s in shape)
                raise InputError(f"{name} must be [{wanted}], got {list(tensor.shape)}")
        if context.shape[1] > c.text_len:
            raise InputError(f"context has {context.shape[1]} tokens, at most {c.text_len} allowed")
        return grid
