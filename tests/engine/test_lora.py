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


# Each layout as its tool writes it: the key stems of its low-rank pairs with our module, the
# (down, up) suffixes and the alpha (None: the tool writes none), and its full deltas (key, our parameter).
# kohya / musubi-tuner (networks/lora_wan.py): prefix lora_unet_, the module path with dots as
# underscores, .lora_down/.lora_up/.alpha.
# diffusers (Wan transformer names, "transformer." prefix or none) and PEFT on the original names
# ("diffusion_model." prefix or none): .lora_A/.lora_B, no alpha.
# lightx2v (the Wan 14B distill LoRAs; lora_adapter.py): diffusion_model. + Wan names,
# .lora_down/.lora_up (or lora_A/lora_B) with .alpha, full deltas .diff, .diff_b and .diff_m (a
# block's or the head's modulation).
# ComfyUI (comfy/lora.py): diffusion_model. + Wan names, .lora_down/.lora_up/.alpha, and full
# deltas .diff/.diff_b, a bare parameter's as <parameter>.diff.
LAYOUTS = {
    "kohya": [("lora_unet_blocks_0_self_attn_q", "blocks.0.self_attn.q"),
              ("lora_unet_blocks_1_ffn_2", "blocks.1.ffn.2"),
              ("lora_unet_blocks_1_cross_attn_k_img", "blocks.1.cross_attn.k_img"),
              ("lora_unet_text_embedding_0", "text_embedding.0")],
    "diffusers": [("transformer.blocks.0.attn1.to_out.0", "blocks.0.self_attn.o"),
                  ("transformer.blocks.1.attn2.add_k_proj", "blocks.1.cross_attn.k_img"),
                  ("transformer.blocks.0.ffn.net.0.proj", "blocks.0.ffn.0"),
                  ("transformer.proj_out", "head.head"),
                  ("transformer.condition_embedder.time_proj", "time_projection.1")],
    "diffusers-bare": [("blocks.0.attn1.to_q", "blocks.0.self_attn.q"),
                       ("blocks.1.attn2.to_v", "blocks.1.cross_attn.v"),
                       ("condition_embedder.text_embedder.linear_1", "text_embedding.0")],
    "peft": [("diffusion_model.blocks.0.self_attn.k", "blocks.0.self_attn.k"),
             ("diffusion_model.blocks.1.ffn.0", "blocks.1.ffn.0")],
    "peft-bare": [("blocks.1.self_attn.o", "blocks.1.self_attn.o"), ("head.head", "head.head")],
    "lightx2v": [("diffusion_model.blocks.0.cross_attn.o", "blocks.0.cross_attn.o"),
                 ("diffusion_model.blocks.1.self_attn.v", "blocks.1.self_attn.v")],
    "lightx2v-ab": [("diffusion_model.blocks.0.self_attn.q", "blocks.0.self_attn.q")],
    "comfyui": [("diffusion_model.blocks.1.cross_attn.q", "blocks.1.cross_attn.q"),
                ("diffusion_model.img_emb.proj.1", "img_emb.proj.1")],
}
A_B = (".lora_A.weight", ".lora_B.weight", None)
SUFFIXES = {"kohya": (".lora_down.weight", ".lora_up.weight", 2.0), "diffusers": A_B, "diffusers-bare": A_B,
            "peft": A_B, "peft-bare": A_B, "lightx2v": (".lora_down.weight", ".lora_up.weight", 8.0),
            "lightx2v-ab": (".lora_A.weight", ".lora_B.weight", 4.0),
            "comfyui": (".lora_down.weight", ".lora_up.weight", 16.0)}
DELTAS = {
    "lightx2v": [("diffusion_model.blocks.0.norm3.diff", "blocks.0.norm3.weight"),
                 ("diffusion_model.blocks.1.self_attn.q.diff_b", "blocks.1.self_attn.q.bias"),
                 ("diffusion_model.blocks.0.diff_m", "blocks.0.modulation"),
                 ("diffusion_model.head.diff_m", "head.modulation")],
    "comfyui": [("diffusion_model.blocks.1.self_attn.norm_k.diff", "blocks.1.self_attn.norm_k.weight"),
                ("diffusion_model.head.head.diff_b", "head.head.bias"),
                ("diffusion_model.blocks.1.modulation.diff", "blocks.1.modulation")],
}


def write_lora(model: ScailDiT, layout: str, path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """Write a LoRA file; returns the expected delta of each of our weights at strength 1."""
    down_suffix, up_suffix, alpha = SUFFIXES[layout]
    state, expected = {}, {}
    for index, (stem, module) in enumerate(LAYOUTS[layout]):
        down, up = pair(model, module, 100 * seed + index)
        state[stem + down_suffix], state[stem + up_suffix] = down, up
        if alpha is not None:
            state[stem + ".alpha"] = torch.tensor(alpha)
        expected[f"{module}.weight"] = (1.0 if alpha is None else alpha / RANK) * up @ down
    g = torch.Generator().manual_seed(1000 + seed)
    for key, name in DELTAS.get(layout, []):
        state[key] = torch.randn(model.get_parameter(name).shape, generator=g)
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


def test_keys_of_other_adapters_are_refused_naming_the_first_five(tmp_path: Path) -> None:
    """A ComfyUI/LyCORIS file with DoRA scales, LoHa factors and a set_weight (none of which this
    reads) on real module names: refused as a whole, the first five unmatched keys named and the
    rest counted, so it never loads half applied."""
    model = make_model()
    down, up = pair(model, "blocks.0.self_attn.q", 0)
    stem = "diffusion_model.blocks.0.self_attn.q"
    state = {f"{stem}.lora_down.weight": down, f"{stem}.lora_up.weight": up, f"{stem}.dora_scale": torch.ones(256, 1),
             **{f"diffusion_model.blocks.1.self_attn.{m}.hada_w1_a": down.clone() for m in "qkvo"},
             f"{stem}.set_weight": torch.zeros(256, 256), "diffusion_model.blocks.1.ffn.0.lokr_w1": down.clone()}
    save_file(state, str(tmp_path / "lycoris.safetensors"))
    with pytest.raises(InputError) as caught:
        read_lora(tmp_path / "lycoris.safetensors", model)
    message = str(caught.value)
    named = message.split("this SCAIL model: ")[1].split(". Use")[0]
    assert named.endswith("and 2 more") and len(named.split(", ")) == 5, message
    assert "dora_scale" in named and "ComfyUI key layout" in message


def test_prepare_dit_applies_a_live_lora_to_offloaded_fp8_blocks(tmp_path: Path) -> None:
    path = tmp_path / "lora.safetensors"
    write_lora(make_model(), "lightx2v", path)
    inputs = make_inputs("scail")
    outputs = []
    for vram in ("full", "12gb"):
        speed = Speed(precision="fp8", vram=vram, loras=((str(path), 1.0, "lora"),), lora_mode="live")
        with torch.no_grad():
            outputs.append(prepare_dit(make_model(), speed, "cpu")(**inputs))
    assert torch.equal(outputs[0], outputs[1])
    with torch.no_grad():
        plain_fp8 = prepare_dit(make_model(), Speed(precision="fp8"), "cpu")(**inputs)
    assert not torch.allclose(outputs[0], plain_fp8, atol=1e-4)


# fp32 rounding: each merge adds a float32 delta (a rank-4 product, itself rounded) to a float32
# weight, so an element is off from the exact sum by at most a few units of float32 rounding of
# the magnitudes involved; 8 * eps * (|W| + sum |s * delta|) bounds it with room to spare.
EPS32 = torch.finfo(torch.float32).eps


def test_a_merged_stack_is_each_lora_merged_in_turn(tmp_path: Path) -> None:
    """Two LoRAs (lightx2v and kohya keys, both changing blocks.0.self_attn.q) merged as a stack by
    prepare_dit: every weight is W + s1 * d1 + s2 * d2 computed exactly (float64), within
    the float32 bound above, and equal to merging each file in turn with merge_lora."""
    base = make_model()
    first = write_lora(base, "lightx2v-ab", tmp_path / "a.safetensors", seed=1)
    second = write_lora(base, "kohya", tmp_path / "b.safetensors", seed=2)
    assert set(first) & set(second), "the two LoRAs must share a weight for the order to matter"
    before = {name: p.detach().clone() for name, p in base.named_parameters()}
    stack = ((str(tmp_path / "a.safetensors"), 0.7, "a"), (str(tmp_path / "b.safetensors"), -0.3, "b"))
    merged = prepare_dit(make_model(), Speed(loras=stack), "cpu")
    in_turn = make_model()
    for path, strength, _ in stack:
        merge_lora(in_turn, read_lora(path, in_turn), strength)
    changed = 0
    for name, param in merged.named_parameters():
        exact = before[name].double() + 0.7 * first.get(name, torch.zeros(1)).double() \
            - 0.3 * second.get(name, torch.zeros(1)).double()
        scale = before[name].abs().double() + (0.7 * first.get(name, torch.zeros(1))).abs() \
            + (0.3 * second.get(name, torch.zeros(1))).abs()
        assert ((param.double() - exact).abs() <= 8 * EPS32 * scale).all(), name
        assert torch.equal(param, in_turn.get_parameter(name)), name
        changed += not torch.equal(param, before[name])
    assert changed == len(set(first) | set(second))
    assert Speed(loras=stack).describe().endswith("lora=a@0.7+b@-0.3 compile=off")


def test_a_live_stack_gives_the_merged_stack(tmp_path: Path) -> None:
    base = make_model()
    write_lora(base, "comfyui", tmp_path / "a.safetensors", seed=3)
    write_lora(base, "diffusers", tmp_path / "b.safetensors", seed=4)
    stack = ((str(tmp_path / "a.safetensors"), 1.5, "a"), (str(tmp_path / "b.safetensors"), 0.5, "b"))
    merged = prepare_dit(make_model(), Speed(loras=stack), "cpu")
    live = prepare_dit(make_model(), Speed(loras=stack, lora_mode="live"), "cpu")
    only_first = prepare_dit(make_model(), Speed(loras=stack[:1], lora_mode="live"), "cpu")
    inputs = make_inputs("scail")
    with torch.no_grad():
        out = merged(**inputs)
        assert torch.allclose(live(**inputs), out, atol=1e-4)
        assert not torch.allclose(only_first(**inputs), out, atol=1e-4)
    assert Speed(loras=stack, lora_mode="live").describe().endswith("lora=a@1.5+b@0.5(live) compile=off")


def test_a_bad_lora_late_in_the_stack_changes_no_weight(tmp_path: Path) -> None:
    model = make_model()
    write_lora(model, "lightx2v", tmp_path / "good.safetensors")
    save_file({"unet.down_blocks.0.attn.to_q.lora_down.weight": torch.zeros(4, 4),
               "unet.down_blocks.0.attn.to_q.lora_up.weight": torch.zeros(4, 4)}, str(tmp_path / "sdxl.safetensors"))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    stack = ((str(tmp_path / "good.safetensors"), 1.0, "good"), (str(tmp_path / "sdxl.safetensors"), 1.0, "sdxl"))
    with pytest.raises(InputError, match=r"unet\.down_blocks\.0\.attn\.to_q\.lora_down\.weight"):
        prepare_dit(model, Speed(loras=stack), "cpu")
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
