"""ComfyUI / kijai DiT files: prefixed fp16, scaled fp8 (old and new form), plain fp8, refusals.

The writers below make tiny files the way those tools lay them out (facts from ComfyUI's
``comfy/model_detection.py`` and ``comfy/utils.py`` ``convert_old_quants``, kijai's
WanVideoWrapper fp8 loader): the same tensors as the official wan-branch file, only named,
typed and scaled differently. Each must load to the official file's network within the
rounding of its own format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch import nn
from safetensors.torch import save_file

from scail_blender.cli import main
from scail_blender.engine import testing
from scail_blender.engine.checkpoints.loading import load_dit
from scail_blender.engine.models.dit import DitConfig
from scail_blender.engine.models.fp8 import Fp8Linear
from scail_blender.errors import CheckpointError
from tests.engine.test_dit_model import make_inputs, run

VARIANTS = ("scail", "scail2")
PREFIX = "model.diffusion_model."
E4M3_MAX = 448.0  # largest finite float8_e4m3fn


@pytest.fixture(scope="module")
def states() -> dict[str, dict[str, torch.Tensor]]:
    return {v: testing.random_state_dict("tiny", v, seed=11) for v in VARIANTS}


def is_linear(name: str, tensor: torch.Tensor) -> bool:
    """The tensors ComfyUI's and kijai's fp8 files store as fp8: the blocks' Linear weights."""
    return name.startswith("blocks.") and name.endswith(".weight") and tensor.ndim == 2


def save_comfy(state: dict[str, torch.Tensor], path: Path, dtype: torch.dtype = torch.float16,
               prefix: str = PREFIX) -> Path:
    """A ComfyUI repack: wan-branch names under the checkpoint prefix, one half-precision dtype."""
    save_file({prefix + k: v.to(dtype).contiguous() for k, v in state.items()}, str(path))
    return path


def quantise(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-tensor scaled e4m3fn: scale = absmax / 448, stored = weight / scale in fp8."""
    scale = weight.abs().max().float() / E4M3_MAX
    return (weight.float() / scale).to(torch.float8_e4m3fn), scale


def save_scaled_fp8(state: dict[str, torch.Tensor], path: Path, new_form: bool = False,
                    prefix: str = PREFIX) -> Path:
    """ComfyUI's scaled fp8: old form (``scale_weight``, ``scale_input``, ``scaled_fp8`` marker)
    or the newer one (``weight_scale``, ``input_scale``, per-layer ``comfy_quant`` JSON)."""
    out: dict[str, torch.Tensor] = {}
    config = torch.tensor(list(json.dumps({"format": "float8_e4m3fn"}).encode()), dtype=torch.uint8)
    for name, tensor in state.items():
        if not is_linear(name, tensor):
            out[prefix + name] = tensor.to(torch.bfloat16)
            continue
        layer = prefix + name[: -len(".weight")]
        out[prefix + name], scale = quantise(tensor)
        if new_form:
            out[layer + ".weight_scale"] = scale
            out[layer + ".input_scale"] = torch.tensor(1.0)
            out[layer + ".comfy_quant"] = config.clone()
        else:
            out[layer + ".scale_weight"] = scale
            out[layer + ".scale_input"] = torch.tensor(1.0)
    if not new_form:
        out[prefix + "scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
    save_file(out, str(path))
    return path


def save_plain_fp8(state: dict[str, torch.Tensor], path: Path) -> Path:
    """kijai's e4m3fn files: Linear weights cast straight to fp8, no scales, no marker."""
    save_file({k: (v.to(torch.float8_e4m3fn) if is_linear(k, v) else v.to(torch.bfloat16)).contiguous()
               for k, v in state.items()}, str(path))
    return path


def relative_error(model, reference, variant: str) -> float:
    inputs = make_inputs(variant)
    expected = run(reference, **inputs)
    return ((run(model, **inputs) - expected).norm() / expected.norm()).item()


@pytest.fixture(scope="module")
def official(states, tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("official")
    return {v: load_dit(testing.save_safetensors(states[v], root / f"{v}.safetensors"),
                        dtype=torch.float32) for v in VARIANTS}


@pytest.mark.parametrize("variant", VARIANTS)
def test_comfy_prefixed_fp16_repack_loads_the_same_network(variant, states, official,
                                                           tmp_path: Path) -> None:
    path = save_comfy(states[variant], tmp_path / "comfy_fp16.safetensors")
    model = load_dit(path, dtype=torch.float32)
    assert model.config == DitConfig.preset("tiny", variant)
    for name, tensor in model.state_dict().items():  # each weight is its fp16 rounding, exactly
        assert torch.equal(tensor, states[variant][name].half().float()), name
    # fp16 keeps 11 significant bits (each weight within 2^-11 ~ 4.9e-4 relative); the forward's
    # relative L2 error was measured at 3.3e-4 (SCAIL) and 3.5e-4 (SCAIL-2); bound 2e-3.
    assert relative_error(model, official[variant], variant) < 2e-3


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("new_form", [False, True], ids=["scale_weight", "comfy_quant"])
def test_scaled_fp8_loads_within_fp8_rounding(variant, new_form, states, official,
                                              tmp_path: Path) -> None:
    path = save_scaled_fp8(states[variant], tmp_path / "fp8_scaled.safetensors", new_form)
    model = load_dit(path, dtype=torch.float32)
    assert all(isinstance(m, Fp8Linear) and m.weight.dtype == torch.float8_e4m3fn
               for m in model.blocks.modules() if isinstance(m, (nn.Linear, Fp8Linear)))
    widened = load_dit(path, dtype=torch.float32, keep_quantised=False)
    loaded = widened.state_dict()
    assert loaded.keys() == states[variant].keys()  # scales, configs, marker all consumed
    for name, tensor in states[variant].items():
        if is_linear(name, tensor):
            # e4m3fn keeps 4 significant bits: a normal value is within 2^-4 relative; values below
            # the smallest normal (2^-6 * scale) within half a subnormal step (2^-10 * scale).
            scale = tensor.abs().max() / E4M3_MAX
            bound = torch.maximum(tensor.abs() * 2**-4, torch.full_like(tensor, 2**-10) * scale)
            assert ((loaded[name] - tensor).abs() <= bound * (1 + 1e-6)).all(), name
    # Kept fp8 (dequantised per call on the CPU) and widened on load: the same float32 products.
    assert relative_error(model, widened, variant) < 1e-6
    error = relative_error(model, official[variant], variant)
    # Measured relative L2 error of the forward: 8.8e-3 (SCAIL), 7.1e-3 (SCAIL-2); each weight is
    # within 2^-4 = 6.25 % of itself, so 0.05 bounds the forward with room; 0 < proves fp8 was read.
    assert 0 < error < 0.05, error


@pytest.mark.parametrize("variant", VARIANTS)
def test_kijai_plain_fp8_without_scales(variant, states, official, tmp_path: Path) -> None:
    path = save_plain_fp8(states[variant], tmp_path / "fp8_e4m3fn.safetensors")
    model = load_dit(path, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    reference = official[variant]
    name = "blocks.0.self_attn.q.weight"
    assert torch.equal(model.state_dict()[name].float(), states[variant][name].to(torch.float8_e4m3fn).float())
    error = relative_error(model.float(), reference, variant)
    # Unscaled, weights below 2^-6 lose bits as subnormals; these (std 1/16) mostly stay normal:
    # measured 8.6e-3 (SCAIL), 7.3e-3 (SCAIL-2); same 0.05 bound.
    assert 0 < error < 0.05, error


def test_convert_writes_a_plain_file_from_scaled_fp8(states, tmp_path: Path) -> None:
    source = save_scaled_fp8(states["scail2"], tmp_path / "fp8_scaled.safetensors")
    target = tmp_path / "plain.safetensors"
    assert main(["convert", str(source), str(target), "--dtype", "float32"]) == 0
    with safe_open(target, framework="pt") as handle:
        assert set(handle.keys()) == set(states["scail2"])  # no prefix, scales or marker left
        weight = handle.get_tensor("blocks.1.ffn.2.weight")
    stored, scale = quantise(states["scail2"]["blocks.1.ffn.2.weight"])
    assert torch.equal(weight, stored.float() * scale)


def test_refused_by_name(states, tmp_path: Path) -> None:
    state = states["scail"]
    wan_i2v = {k: v for k, v in state.items() if not k.startswith("patch_embedding_pose")}
    with pytest.raises(CheckpointError, match="plain Wan2.1-I2V .*not SCAIL"):
        load_dit(save_comfy(wan_i2v, tmp_path / "i2v.safetensors"))
    wan_t2v = {k: v for k, v in wan_i2v.items() if not k.startswith("img_emb.") and "_img" not in k}
    with pytest.raises(CheckpointError, match="plain Wan2.1 text-to-video"):
        load_dit(save_scaled_fp8(wan_t2v, tmp_path / "t2v.safetensors"))
    vace = dict(wan_t2v)
    vace["vace_patch_embedding.weight"] = torch.zeros(256, 96, 1, 2, 2)
    vace["vace_blocks.0.before_proj.weight"] = torch.zeros(256, 256)
    with pytest.raises(CheckpointError, match="Wan2.1 VACE model .*with vace_patch_embedding.weight"):
        load_dit(save_comfy(vace, tmp_path / "vace.safetensors"))
    animate = dict(wan_i2v)
    animate["face_adapter.fuser_blocks.0.k_norm.weight"] = torch.ones(128)
    with pytest.raises(CheckpointError, match="Wan2.2 Animate model"):
        load_dit(save_scaled_fp8(animate, tmp_path / "animate.safetensors"))


def test_unreadable_quantisations_are_refused_by_name(states, tmp_path: Path) -> None:
    path = save_scaled_fp8(states["scail"], tmp_path / "w4a4.safetensors", new_form=True)
    with safe_open(path, framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    w4a4 = torch.tensor(list(json.dumps({"format": "convrot_w4a4"}).encode()), dtype=torch.uint8)
    tensors[PREFIX + "blocks.0.ffn.0.comfy_quant"] = w4a4
    save_file(tensors, str(path))
    with pytest.raises(CheckpointError, match="convrot_w4a4 quantisation.*does not read yet"):
        load_dit(path)
    tensors = {k: v for k, v in tensors.items() if not k.endswith((".comfy_quant", "input_scale"))}
    tensors[PREFIX + "blocks.0.ffn.0.weight_scale"] = torch.ones(512, 1)  # a per-row scale
    save_file(tensors, str(path))
    with pytest.raises(CheckpointError, match=r"weight_scale has shape \[512, 1\], not one per-tensor"):
        load_dit(path)
    save_file({PREFIX + "blocks.0.ffn.0.scale_weight": torch.tensor(1.0),
               **{PREFIX + k: v for k, v in states["scail"].items() if k != "blocks.0.ffn.0.weight"}},
              str(path))
    with pytest.raises(CheckpointError, match="weight scale or quantisation config without its weight"):
        load_dit(path)
