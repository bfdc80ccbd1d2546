"""ComfyUI's component files (wan_2.1_vae, umt5_xxl fp16/bf16/fp8_e4m3fn_scaled, clip_vision_h) load
into our modules with the official files' weights, within the rounding of their dtype.

The tiny files are written here in ComfyUI's names (see checkpoints/component_files.py for the
sources): the official tiny state dicts renamed the other way, saved with safetensors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from scail_blender.engine.components import load_clip, load_t5, load_vae
from scail_blender.engine.models.clip import ClipConfig, ClipVision
from scail_blender.engine.models.t5 import T5Config, T5Encoder
from scail_blender.engine.models.vae import VaeConfig, WanVAE
from scail_blender.errors import CheckpointError

T5_NAMES = {"norm1.weight": "layer.0.layer_norm.weight", "attn.q.weight": "layer.0.SelfAttention.q.weight",
            "attn.k.weight": "layer.0.SelfAttention.k.weight", "attn.v.weight": "layer.0.SelfAttention.v.weight",
            "attn.o.weight": "layer.0.SelfAttention.o.weight",
            "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
            "norm2.weight": "layer.1.layer_norm.weight", "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
            "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight", "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight"}
E4M3_MAX = 448.0


def t5_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return T5Encoder(T5Config(vocab_size=64, dim=32, dim_attn=32, dim_ffn=64, num_heads=2, num_layers=2)).state_dict()


def to_hf_t5(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {"shared.weight": state["token_embedding.weight"], "encoder.final_layer_norm.weight": state["norm.weight"]}
    for name, tensor in state.items():
        if name.startswith("blocks."):
            _, index, rest = name.split(".", 2)
            out[f"encoder.block.{index}.{T5_NAMES[rest]}"] = tensor
    return out


def scaled_fp8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ComfyUI's fp8_e4m3fn_scaled: 2-D linears in e4m3fn with a per-tensor scale_weight, a marker."""
    out: dict[str, torch.Tensor] = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    for name, tensor in state.items():
        if tensor.ndim == 2 and "DenseReluDense" in name or "SelfAttention." in name and "relative" not in name:
            scale = tensor.abs().max().float() / E4M3_MAX
            out[name] = (tensor.float() / scale).to(torch.float8_e4m3fn)
            out[name[: -len("weight")] + "scale_weight"] = scale
        else:
            out[name] = tensor.half()
    return out


@pytest.mark.parametrize("form", ["fp16", "bf16", "fp8_e4m3fn_scaled"])
def test_comfy_umt5_loads_the_official_encoder(form: str, tmp_path: Path) -> None:
    state = t5_state()
    official = tmp_path / "models_t5_umt5-xxl-enc-bf16.pth"
    torch.save(state, official)
    hf = to_hf_t5(state)
    hf["spiece_model"] = torch.zeros(16, dtype=torch.uint8)  # ComfyUI may store the tokenizer beside
    if form == "fp8_e4m3fn_scaled":
        hf = scaled_fp8({k: v for k, v in hf.items() if k != "spiece_model"})
    else:
        hf = {k: v if k == "spiece_model" else v.to(getattr(torch, {"fp16": "float16", "bf16": "bfloat16"}[form]))
              for k, v in hf.items()}
    path = tmp_path / f"umt5_xxl_{form}.safetensors"
    save_file({k: v.contiguous() for k, v in hf.items()}, str(path))
    reference, model = load_t5(official, torch.float32), load_t5(path, torch.float32)
    ids = torch.tensor([[5, 7, 9, 1, 0, 0]])
    mask = (ids > 0).long()
    mask[0, 3] = 1
    with torch.no_grad():
        expected, out = reference(ids, mask), model(ids, mask)
    error = ((out - expected).norm() / expected.norm()).item()
    # fp16 weights: 2^-11 relative each; bf16: 2^-8; e4m3fn: 2^-4 (per-tensor scale). Measured
    # 2.4e-4, 1.5e-3, 1.6e-2; bounds about 5x that (and > 0 for fp8: the fp8 bytes were read).
    bound = {"fp16": 1.2e-3, "bf16": 8e-3, "fp8_e4m3fn_scaled": 0.08}[form]
    assert error < bound, error
    if form == "fp8_e4m3fn_scaled":
        assert error > 0


def test_comfy_vae_is_the_official_state_dict_in_safetensors(tmp_path: Path) -> None:
    torch.manual_seed(1)
    state = WanVAE(VaeConfig(dim=8)).state_dict()
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(tmp_path / "wan_2.1_vae.safetensors"))
    model = load_vae(tmp_path / "wan_2.1_vae.safetensors")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name].half().float()), name


def clip_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(2)
    return ClipVision(ClipConfig(image_size=28, patch_size=14, dim=64, num_layers=3, out_dim=32)).state_dict()


def to_hf_clip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    vm = "vision_model."
    out = {vm + "embeddings.class_embedding": state["cls_embedding"].reshape(-1),
           vm + "embeddings.position_embedding.weight": state["pos_embedding"][0],
           vm + "embeddings.patch_embedding.weight": state["patch_embedding.weight"],
           "visual_projection.weight": state["head"].t()}
    for ours, theirs in (("pre_norm", "pre_layrnorm"), ("post_norm", "post_layernorm")):
        for kind in ("weight", "bias"):
            out[f"{vm}{theirs}.{kind}"] = state[f"{ours}.{kind}"]
    layers = {int(n.split(".")[1]) for n in state if n.startswith("transformer.")}
    for i in layers:
        ours, theirs = f"transformer.{i}.", f"{vm}encoder.layers.{i}."
        for kind in ("weight", "bias"):
            q, k, v = state[f"{ours}attn.to_qkv.{kind}"].chunk(3)
            out |= {f"{theirs}self_attn.q_proj.{kind}": q, f"{theirs}self_attn.k_proj.{kind}": k,
                    f"{theirs}self_attn.v_proj.{kind}": v,
                    f"{theirs}self_attn.out_proj.{kind}": state[f"{ours}attn.proj.{kind}"],
                    f"{theirs}layer_norm1.{kind}": state[f"{ours}norm1.{kind}"],
                    f"{theirs}layer_norm2.{kind}": state[f"{ours}norm2.{kind}"],
                    f"{theirs}mlp.fc1.{kind}": state[f"{ours}mlp.0.{kind}"],
                    f"{theirs}mlp.fc2.{kind}": state[f"{ours}mlp.2.{kind}"]}
    return out


def test_comfy_clip_vision_h_loads_the_official_tower(tmp_path: Path) -> None:
    state = clip_state()
    path = tmp_path / "clip_vision_h.safetensors"
    hf = {k: v.half().contiguous() for k, v in to_hf_clip(state).items()}
    hf["vision_model.embeddings.position_ids"] = torch.arange(5).reshape(1, 5)  # Hugging Face saves it too
    save_file(hf, str(path))
    model = load_clip(path, torch.float32)
    assert model.state_dict().keys() == state.keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name].half().float()), name
    save_file({"vision_model.encoder.layers.0.self_attn.q_proj.weight": torch.zeros(4, 4),
               "text_model.embeddings.token_embedding.weight": torch.zeros(4, 4)}, str(path))
    with pytest.raises(CheckpointError, match="lacks some of its q/k/v|has tensors the open-clip"):
        load_clip(path)
