"""LoRA files in the kohya, diffusers and lightx2v layouts merge as W + strength * scale * up @ down."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from scail_blender.engine.testing import random_state_dict
from scail_blender.engine.lora import attach_lora, merge_lora, read_lora
from scail_blender.engine.models.dit import DitConfig, ScailDiT
from scail_blender.engine.models.fp8 import convert_blocks_to_fp8
from scail_blender.engine.speed import Speed, prepare_dit
from scail_blender.errors import InputError

from tests.engine.test_dit_model import make_inputs

RANK = 4


def make_model() -> ScailDiT:
    config = DitConfig.preset("tiny", "scail")
    model = ScailDiT(config)
    model.load_state_dict(random_state_dict(config, seed=3))
    return model.eval()


def pair(model: ScailDiT, module: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    weight = model.get_submodule(module).weight
    g = torch.Generator().manual_seed(seed)
    return torch.randn(RANK, weight.shape[1], generator=g), torch.randn(weight.shape[0], RANK, generator=g)


# Each layout: (file key stem of the low-rank pairs, our module, (down, up) suffixes, alpha or None).
LAYOUTS = {
    "kohya": [("lora_unet_blocks_0_self_attn_q", "blocks.0.self_attn.q"),
              ("lora_unet_blocks_1_ffn_2", "blocks.1.ffn.2"),
              ("lora_unet_text_embedding_0", "text_embedding.0")],
    "diffusers": [("transformer.blocks.0.attn1.to_out.0", "blocks.0.self_attn.o"),
                  ("transformer.blocks.1.attn2.add_k_proj", "blocks.1.cross_attn.k_img"),
                  ("transformer.blocks.0.ffn.net.0.proj", "blocks.0.ffn.0"),
                  ("transformer.proj_out", "head.head"),
                  ("transformer.condition_embedder.time_proj", "time_projection.1")],
    "lightx2v": [("diffusion_model.blocks.0.cross_attn.o", "blocks.0.cross_attn.o"),
                 ("diffusion_model.blocks.1.self_attn.v", "blocks.1.self_attn.v")],
}
SUFFIXES = {"kohya": (".lora_down.weight", ".lora_up.weight", 2.0),
            "diffusers": (".lora_A.weight", ".lora_B.weight", None),
            "lightx2v": (".lora_down.weight", ".lora_up.weight", 8.0)}


def write_lora(model: ScailDiT, layout: str, path: Path) -> dict[str, torch.Tensor]:
    """Write a LoRA file; returns the expected delta of each of our weights at strength 1."""
    down_suffix, up_suffix, alpha = SUFFIXES[layout]
    state, expected = {}, {}
    for seed, (stem, module) in enumerate(LAYOUTS[layout]):
        down, up = pair(model, module, seed)
        state[stem + down_suffix], state[stem + up_suffix] = down, up
        if alpha is not None:
            state[stem + ".alpha"] = torch.tensor(alpha)
        expected[f"{module}.weight"] = (1.0 if alpha is None else alpha / RANK) * up @ down
    if layout == "lightx2v":  # full deltas of a norm weight, a bias and a bare parameter
        for key, name in (("diffusion_model.blocks.0.norm3.diff", "blocks.0.norm3.weight"),
                          ("diffusion_model.blocks.1.self_attn.q.diff_b", "blocks.1.self_attn.q.bias"),
                          ("diffusion_model.blocks.0.modulation.diff", "blocks.0.modulation")):
            state[key] = torch.randn(model.get_parameter(name).shape)
            expected[name] = state[key]
    save_file(state, str(path))
    return expected


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_merged_weights_are_w_plus_scaled_up_down(layout: str, tmp_path: Path) -> None:
    model = make_model()
    expected = write_lora(model, layout, tmp_path / "lora.safetensors")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    lora = read_lora(tmp_path / "lora.safetensors", model)
    assert merge_lora(model, lora, strength=0.7) == len(expected)
    for name, param in model.named_parameters():
        want = before[name] + 0.7 * expected[name] if name in expected else before[name]
        assert torch.allclose(param, want, atol=1e-5), name


def test_live_lora_gives_the_merged_model(tmp_path: Path) -> None:
    merged, live = make_model(), make_model()
    write_lora(merged, "kohya", tmp_path / "lora.safetensors")
    merge_lora(merged, read_lora(tmp_path / "lora.safetensors", merged), 1.5)
    hooks = attach_lora(live, read_lora(tmp_path / "lora.safetensors", live), 1.5)
    inputs = make_inputs("scail")
    with torch.no_grad():
        assert torch.allclose(live(**inputs), merged(**inputs), atol=1e-4)
        for hook in hooks:
            hook.remove()
        assert not torch.allclose(live(**inputs), merged(**inputs), atol=1e-4)


def test_live_lora_runs_over_fp8_linears(tmp_path: Path) -> None:
    model = make_model()
    write_lora(model, "lightx2v", tmp_path / "lora.safetensors")
    lora = read_lora(tmp_path / "lora.safetensors", model)
    convert_blocks_to_fp8(model.blocks)
    attach_lora(model, lora)
    with torch.no_grad():
        assert torch.isfinite(model(**make_inputs("scail"))).all()


def test_unknown_and_incomplete_keys_are_named(tmp_path: Path) -> None:
    model = make_model()
    down, up = pair(model, "blocks.0.self_attn.q", 0)
    cases = {
        "unet.down_blocks.0.attn.to_q": {"unet.down_blocks.0.attn.to_q.lora_down.weight": down,
                                         "unet.down_blocks.0.attn.to_q.lora_up.weight": up},
        "blocks.7.self_attn.q": {"diffusion_model.blocks.7.self_attn.q.lora_A.weight": down},
        "only one of their down/up": {"diffusion_model.blocks.0.self_attn.q.lora_A.weight": down},
        "blocks.0.self_attn.q.weight_scale": {"blocks.0.self_attn.q.weight_scale": down},
    }
    for message, state in cases.items():
        with pytest.raises(InputError, match=message.replace(".", r"\.")):
            read_lora(state, model)
    with pytest.raises(InputError, match="does not exist"):
        read_lora(tmp_path / "missing.safetensors", model)


def test_prepare_dit_applies_a_live_lora_to_offloaded_fp8_blocks(tmp_path: Path) -> None:
    path = tmp_path / "lora.safetensors"
    write_lora(make_model(), "lightx2v", path)
    inputs = make_inputs("scail")
    outputs = []
    for vram in ("full", "12gb"):
        speed = Speed(precision="fp8", vram=vram, lora=str(path), lora_mode="live")
        with torch.no_grad():
            outputs.append(prepare_dit(make_model(), speed, "cpu")(**inputs))
    assert torch.equal(outputs[0], outputs[1])
    with torch.no_grad():
        plain_fp8 = prepare_dit(make_model(), Speed(precision="fp8"), "cpu")(**inputs)
    assert not torch.allclose(outputs[0], plain_fp8, atol=1e-4)
