"""3D RoPE of the SCAIL DiT: segment positions, the pose shift and pooling, the application."""

from __future__ import annotations

import math

import torch

from scail_blender.engine.models.rope import (POSE_W_SHIFT, REPLACE_H_SHIFT, apply_rope, axis_dims,
                                               grid_factors, scail_factors)

HEAD = 128
DT, DH, DW = 22, 21, 21  # complex pairs per axis for a head of 128


def freq(axis_dim: int, j: int) -> float:
    return 10000.0 ** (-2 * j / axis_dim)


def angles(factors: torch.Tensor) -> torch.Tensor:
    return torch.angle(factors.to(torch.complex128))


def split(factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return factors[..., :DT], factors[..., DT:DT + DH], factors[..., DT + DH:]


def test_head_of_128_splits_44_42_42() -> None:
    assert axis_dims(128) == (44, 42, 42)
    assert sum(axis_dims(64)) == 64


def test_segment_lengths_follow_the_token_layout() -> None:
    frames, rows, cols = 3, 4, 6
    factors = scail_factors(HEAD, frames, rows, cols, extra_refs=2)
    per_frame = rows * cols
    assert factors.shape == (2 * per_frame + per_frame + frames * per_frame + frames * 2 * 3, 64)
    assert factors.dtype == torch.complex64


def test_reference_at_t0_video_from_t1_on_the_same_grid() -> None:
    frames, rows, cols = 3, 4, 6
    factors = scail_factors(HEAD, frames, rows, cols).to(torch.complex128)
    per_frame = rows * cols
    ref, video = factors[:per_frame], factors[per_frame:per_frame * (1 + frames)]
    t_ref, h_ref, w_ref = split(ref)
    assert torch.allclose(t_ref, torch.ones_like(t_ref), atol=1e-6)  # t = 0: no rotation
    video = video.reshape(frames, rows, cols, 64)
    for f in range(frames):
        expected_t = torch.tensor([(f + 1) * freq(44, j) for j in range(DT)], dtype=torch.float64)
        got = angles(split(video[f, 0, 0])[0])
        assert torch.allclose(torch.remainder(got - expected_t + math.pi, 2 * math.pi) - math.pi,
                              torch.zeros(DT, dtype=torch.float64), atol=1e-5)
        # Rows and columns of every video frame equal the reference's.
        assert torch.allclose(split(video[f])[1].reshape(-1, DH), h_ref, atol=1e-6)
        assert torch.allclose(split(video[f])[2].reshape(-1, DW), w_ref, atol=1e-6)


def test_pose_factors_are_2x2_means_of_the_grid_shifted_120_columns() -> None:
    frames, rows, cols = 2, 4, 6
    factors = scail_factors(HEAD, frames, rows, cols).to(torch.complex128)
    pose = factors[(1 + frames) * rows * cols:].reshape(frames, rows // 2, cols // 2, 64)
    for r in range(rows // 2):
        for c in range(cols // 2):
            t, h, w = split(pose[1, r, c])
            for j in range(DW):
                a, b = (POSE_W_SHIFT + 2 * c) * freq(42, j), (POSE_W_SHIFT + 2 * c + 1) * freq(42, j)
                expected = (complex(math.cos(a), math.sin(a)) + complex(math.cos(b), math.sin(b))) / 2
                assert abs(complex(w[j]) - expected) < 1e-6
            for j in range(DH):
                a, b = 2 * r * freq(42, j), (2 * r + 1) * freq(42, j)
                expected = (complex(math.cos(a), math.sin(a)) + complex(math.cos(b), math.sin(b))) / 2
                assert abs(complex(h[j]) - expected) < 1e-6
            # Time is shared by the four pooled tokens, so its factors stay unit length at t = 2.
            assert torch.allclose(t.abs(), torch.ones(DT, dtype=torch.float64), atol=1e-6)
            assert abs(float(angles(t[1])) - 2 * freq(44, 1)) < 1e-5


def test_pooled_pose_factors_are_shorter_than_one() -> None:
    pose = grid_factors(1, 4, 4, t0=1, h0=0, w0=POSE_W_SHIFT, head_dim=HEAD, pooled=True)
    _, h, w = split(pose)
    # |mean of exp(i a), exp(i (a + f))| = |cos(f / 2)|: the fastest pairs shrink the most.
    assert abs(float(w[0, 0].abs()) - abs(math.cos(freq(42, 0) / 2))) < 1e-9
    assert float(w.abs().min()) < 0.9
    assert float(h.abs().max()) <= 1.0


def test_replacement_mode_and_extra_references_move_the_segments() -> None:
    frames, rows, cols, extra = 2, 2, 2, 3
    per_frame = rows * cols
    factors = scail_factors(HEAD, frames, rows, cols, extra_refs=extra, replace=True)
    factors = factors.to(torch.complex128)
    extra_block = factors[:extra * per_frame].reshape(extra, rows, cols, 64)
    ref = factors[extra * per_frame:(extra + 1) * per_frame].reshape(rows, cols, 64)
    video = factors[(extra + 1) * per_frame:(extra + 1 + frames) * per_frame].reshape(frames, rows, cols, 64)
    for n in range(extra):
        assert abs(float(angles(split(extra_block[n, 0, 0])[0][1])) - n * freq(44, 1)) < 1e-6
    # The reference sits at t = extra, and so does the first video frame in replacement mode ...
    assert torch.allclose(split(ref[0, 0])[0], split(video[0, 0, 0])[0], atol=1e-6)
    # ... told apart by rows moved down by 120.
    expected_h = torch.tensor([REPLACE_H_SHIFT * freq(42, j) for j in range(DH)], dtype=torch.float64)
    got_h = angles(split(ref[0, 0])[1])
    diff = torch.remainder(got_h - expected_h + math.pi, 2 * math.pi) - math.pi
    assert torch.allclose(diff, torch.zeros_like(diff), atol=1e-4)
    animate = scail_factors(HEAD, frames, rows, cols, extra_refs=extra).to(torch.complex128)
    first_video = animate[(extra + 1) * per_frame]
    assert abs(float(angles(split(first_video)[0][1])) - (extra + 1) * freq(44, 1)) < 1e-6


def test_apply_rope_rotates_interleaved_pairs() -> None:
    x = torch.randn(2, 5, 3, 8)
    theta = torch.rand(5, 4) * 6
    factors = torch.polar(torch.ones_like(theta), theta)
    out = apply_rope(x, factors)
    even, odd = x[..., 0::2], x[..., 1::2]
    cos, sin = torch.cos(theta)[None, :, None], torch.sin(theta)[None, :, None]
    assert torch.allclose(out[..., 0::2], even * cos - odd * sin, atol=1e-6)
    assert torch.allclose(out[..., 1::2], even * sin + odd * cos, atol=1e-6)
    assert out.dtype == torch.float32
    assert torch.allclose(apply_rope(x.bfloat16(), factors), apply_rope(x.bfloat16().float(), factors))
