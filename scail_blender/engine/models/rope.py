"""3D rotary position embedding of the SCAIL DiT.

Each head's 128 channels are 64 interleaved (real, imaginary) pairs; the first 22 pairs turn with
the frame index t, the next 21 with the token row h, the last 21 with the token column w, at
frequencies theta^(-2j/d) of their own axis (theta 10000, d = 44, 42, 42). Where a token sits in
that (t, h, w) space is SCAIL's only way of telling the reference, the video and the pose apart:

- reference image: t = 0 (after any extra references), same rows and columns as the video;
- video: t = 1..T;
- pose: the video's t, but 120 columns to the right, and because the pose latent has half the
  resolution its factors are the 2x2 average of the full-grid factors. Averaging unit complex
  numbers gives shorter ones; the model was trained with those, so they are kept as they are.

SCAIL-2 adds extra reference images before the reference (t = 0..N-1, the reference moves to
t = N) and a replacement mode where the video starts at the reference's t and the references
move 120 rows down instead.

Factors are computed in float64 and applied in float32 (the official code applies them in
float64; the difference is far below bf16 resolution). They depend only on the token layout, so
the DiT computes them once per layout and device and keeps them (ScailDiT.rope_factors).
"""

from __future__ import annotations

import torch

THETA = 10000.0
POSE_W_SHIFT = 120
REPLACE_H_SHIFT = 120


def axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Channels rotated by t, h and w: (44, 42, 42) for a head of 128."""
    if head_dim % 2:
        raise ValueError(f"head_dim must be even, got {head_dim}")
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def axis_factors(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """exp(i * p * theta^(-2j/dim)) for positions p: complex128 [len(positions), dim // 2]."""
    inv_freq = 1.0 / torch.pow(THETA, torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.outer(positions.to(torch.float64), inv_freq)
    return torch.polar(torch.ones_like(angles), angles)


def grid_factors(frames: int, rows: int, cols: int, *, t0: int, h0: int, w0: int,
                 head_dim: int, pooled: bool = False) -> torch.Tensor:
    """Factors of a frames x rows x cols token block, flattened t-major: complex128 [N, head_dim // 2].

    With ``pooled`` the block is described on the full grid and every 2x2 group of tokens is
    averaged into one, giving (rows // 2) * (cols // 2) tokens per frame.
    """
    dt, dh, dw = axis_dims(head_dim)
    ft = axis_factors(torch.arange(t0, t0 + frames), dt)
    fh = axis_factors(torch.arange(h0, h0 + rows), dh)
    fw = axis_factors(torch.arange(w0, w0 + cols), dw)
    grid = torch.cat([
        ft[:, None, None].expand(frames, rows, cols, -1),
        fh[None, :, None].expand(frames, rows, cols, -1),
        fw[None, None, :].expand(frames, rows, cols, -1),
    ], dim=-1)
    if pooled:
        if rows % 2 or cols % 2:
            raise ValueError(f"pooled RoPE needs an even token grid, got {rows}x{cols}")
        grid = grid.reshape(frames, rows // 2, 2, cols // 2, 2, -1).mean(dim=(2, 4))
    return grid.reshape(-1, grid.shape[-1])


def scail_factors(head_dim: int, frames: int, rows: int, cols: int, *, extra_refs: int = 0,
                  replace: bool = False) -> torch.Tensor:
    """Factors for the whole sequence [extra refs | ref | video | pose]: complex64 [L, head_dim // 2].

    ``frames, rows, cols`` is the video's token grid; the pose block has rows // 2 x cols // 2.
    """
    ref_h0 = REPLACE_H_SHIFT if replace else 0
    video_t0 = extra_refs + (0 if replace else 1)
    blocks = []
    if extra_refs:
        blocks.append(grid_factors(extra_refs, rows, cols, t0=0, h0=ref_h0, w0=0, head_dim=head_dim))
    blocks += [
        grid_factors(1, rows, cols, t0=extra_refs, h0=ref_h0, w0=0, head_dim=head_dim),
        grid_factors(frames, rows, cols, t0=video_t0, h0=0, w0=0, head_dim=head_dim),
        grid_factors(frames, rows, cols, t0=video_t0, h0=0, w0=POSE_W_SHIFT, head_dim=head_dim,
                     pooled=True),
    ]
    return torch.cat(blocks).to(torch.complex64)


def apply_rope(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of x [B, L, heads, head_dim] by factors; float32 out.

    ``factors`` is complex [L, head_dim // 2] or its real view [L, head_dim // 2, 2] (what
    ScailDiT caches on the device). The product is written in real arithmetic, the same
    operations as the complex one, so that torch.compile can fuse it with its neighbours.
    """
    if factors.is_complex():
        factors = torch.view_as_real(factors)
    re, im = factors[None, :, None, :, 0], factors[None, :, None, :, 1]
    pairs = x.float().unflatten(-1, (-1, 2))
    a, b = pairs[..., 0], pairs[..., 1]
    return torch.stack([a * re - b * im, a * im + b * re], dim=-1).flatten(-2)
