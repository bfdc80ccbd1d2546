"""VAE, umT5, CLIP and tokenizer: official file formats load to identical tensors and behave as specified."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scail_blender.engine.components import ComponentFiles, load_clip, load_t5, load_vae
from scail_blender.engine.models.clip import ClipConfig, ClipVision
from scail_blender.engine.models.t5 import RelativePositionBias, T5Config, T5Encoder
from scail_blender.engine.models.vae import VaeConfig, WanVAE
from scail_blender.engine.text import PromptTokenizer, clean_prompt
from scail_blender.engine.tiny_checkpoint import tiny_tokenizer
from scail_blender.errors import CheckpointError


def randomised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model


def test_vae_file_loads_identically_and_is_causal(tmp_path: Path) -> None:
    state = randomised(WanVAE(VaeConfig(dim=8)), 1).state_dict()
    torch.save(state, tmp_path / "Wan2.1_VAE.pth")
    vae = load_vae(tmp_path / "Wan2.1_VAE.pth")
    assert all(torch.equal(vae.state_dict()[k], v) for k, v in state.items())
    video = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    latent = vae.encode(video)
    assert latent.shape == (1, 16, 3, 4, 6)
    changed = video.clone()
    changed[:, :, 5:] = -changed[:, :, 5:]
    other = vae.encode(changed)
    # Latent frame 0 sees frame 0 only, latent 1 frames 1-4: both unchanged; latent 2 changes.
    assert torch.allclose(latent[:, :, :2], other[:, :, :2], atol=1e-5)
    assert not torch.allclose(latent[:, :, 2], other[:, :, 2], atol=1e-3)
    decoded = vae.decode(latent)
    assert decoded.shape == video.shape and decoded.abs().max() <= 1


def test_t5_bf16_file_loads_identically_and_ignores_padding(tmp_path: Path) -> None:
    cfg = T5Config(vocab_size=50, dim=32, dim_attn=32, dim_ffn=64, num_heads=4, num_layers=2)
    state = {k: v.to(torch.bfloat16) for k, v in randomised(T5Encoder(cfg), 2).state_dict().items()}
    torch.save(state, tmp_path / "t5.pth")
    encoder = load_t5(tmp_path / "t5.pth", torch.float32)
    assert all(torch.equal(encoder.state_dict()[k], v.float()) for k, v in state.items())
    ids = torch.randint(3, 50, (2, 40))
    mask = torch.ones(2, 40, dtype=torch.long)
    mask[0, 10:] = 0
    out = encoder(ids, mask)
    assert out.shape == (2, 40, 32) and bool((out[0, 10:] == 0).all())
    alone = encoder(ids[:1, :10], mask[:1, :10])  # padding must not change the real tokens
    assert torch.allclose(out[0, :10], alone[0], atol=1e-5)


def test_t5_relative_position_buckets() -> None:
    buckets = RelativePositionBias(32, 1, 128).buckets(300, torch.device("cpu"))
    row = buckets[0]  # query 0: keys at +0 ... +299
    assert row[0] == 0 and row[1] == 17 and row[7] == 23  # exact below 8, "after" half from 16
    assert row[8] == 24 and row[299] == 31  # log-spaced, capped at the last bucket
    assert buckets[7, 0] == 7 and buckets[299, 0] == 15  # "before" half


def test_clip_full_file_loads_visual_tower_and_uses_the_penultimate_block(tmp_path: Path) -> None:
    cfg = ClipConfig(image_size=28, patch_size=14, dim=32, num_heads=2, num_layers=3, out_dim=16)
    visual = randomised(ClipVision(cfg), 3).state_dict()
    full = {f"visual.{k}": v for k, v in visual.items()}
    full.update({"log_scale": torch.tensor(4.6), "textual.token_embedding.weight": torch.zeros(10, 8)})
    torch.save(full, tmp_path / "clip.pth")
    clip = load_clip(tmp_path / "clip.pth", torch.float32)
    assert all(torch.equal(clip.state_dict()[k], v) for k, v in visual.items())
    image = torch.rand(1, 3, 50, 70) * 2 - 1
    features = clip.features(image)
    assert features.shape == (1, 5, 32)
    with torch.no_grad():
        for p in clip.transformer[-1].parameters():
            p.mul_(3)
    assert torch.equal(clip.features(image), features)  # the last block is not used


def test_tokenizer_pads_to_512_and_appends_end_token(tmp_path: Path) -> None:
    tiny_tokenizer().save(str(tmp_path / "tokenizer.json"))
    ids, mask = PromptTokenizer(tmp_path)(["a  person\n dances", ""])
    assert ids.shape == mask.shape == (2, 512)
    assert ids[0, :4].tolist() == [3, 5, 6, 1] and mask[0].sum() == 4 and ids[0, 4:].eq(0).all()
    assert ids[1, 0] == 1 and mask[1].sum() == 1  # the empty negative prompt is just </s>
    assert clean_prompt("  a &amp;amp; b\t\tc ") == "a & b c"


def test_missing_and_wrong_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        ComponentFiles.locate(tmp_path / "nope")
    with pytest.raises(CheckpointError, match=r"lacks .*Wan2.1_VAE.pth.*umt5-xxl"):
        ComponentFiles.locate(tmp_path)
    torch.save(randomised(WanVAE(VaeConfig(dim=8)), 1).state_dict(), tmp_path / "vae.pth")
    with pytest.raises(CheckpointError, match="not the umT5-xxl encoder"):
        load_t5(tmp_path / "vae.pth")
    (tmp_path / "broken.pth").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="download the Wan2.1 VAE again"):
        load_vae(tmp_path / "broken.pth")
