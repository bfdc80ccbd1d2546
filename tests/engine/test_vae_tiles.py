"""Tiled VAE decoding (vram 12gb): tiles cover the latent and their blend is exact for a local decoder."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from scail_blender.engine.models.vae import VaeConfig, WanVAE, _tile_starts


def test_tiles_cover_the_latent_with_the_overlap() -> None:
    assert _tile_starts(64, 32, 8) == [0, 24, 32]
    assert _tile_starts(112, 32, 8) == [0, 24, 48, 72, 80]
    assert _tile_starts(20, 32, 8) == [0]
    for size in (33, 57, 64, 100):
        starts = _tile_starts(size, 16, 4)
        assert starts[0] == 0 and starts[-1] + 16 == size
        assert all(b - a <= 12 for a, b in itertools.pairwise(starts))


def test_one_tile_is_the_plain_decode() -> None:
    vae = WanVAE(VaeConfig(dim=8)).eval()
    z = torch.randn(1, 16, 2, 8, 12)
    assert torch.equal(vae.decode_tiled(z, tile=16), vae.decode(z))


def test_blending_is_exact_for_a_decoder_that_only_looks_at_its_pixel(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a pointwise decoder, any seam would come from the tiling or the weights, not the network."""
    vae = WanVAE(VaeConfig(dim=8)).eval()
    def local(z):
        return torch.tanh(F.interpolate(z[:, :3], scale_factor=(1, 8, 8), mode="nearest"))
    monkeypatch.setattr(vae, "decode", local)
    z = torch.randn(1, 16, 3, 20, 28)
    tiled = vae.decode_tiled(z, tile=8, overlap=3)
    assert tiled.shape == (1, 3, 3, 160, 224)
    assert torch.allclose(tiled, local(z), atol=1e-6)
    with pytest.raises(ValueError, match="overlap"):
        vae.decode_tiled(z, tile=8, overlap=8)
