"""GGUF DiT files (ComfyUI-GGUF's Wan layout): dequantisers, the same network, refusals, LoRA.

Files come from tests/support/gguf_files.py (gguf's own GGUFWriter and quants, the tools' rules
for which tensor keeps which type). The reference is the official-layout safetensors file of the
weights the GGUF stands for (gguf.quants.dequantize of its bytes): the GGUF model must compute
the same function; against the float weights it was quantised from, within the type's rounding.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from scail_blender.engine import testing
from scail_blender.engine.checkpoints.loading import load_dit
from scail_blender.engine.lora import attach_lora, merge_lora, read_lora
from scail_blender.engine.models.ggml import BLOCKS, GgmlLinear, dequantise
from scail_blender.errors import CheckpointError
from tests.engine.test_dit_model import make_inputs, run
from tests.support.gguf_files import GGML, K_HALVES, random_blocks, write_gguf

QUANTISED = (GGML.Q8_0, GGML.Q4_0, GGML.Q5_1, GGML.Q4_K, GGML.Q5_K, GGML.Q6_K)


@pytest.fixture(scope="module")
def states() -> dict[str, dict[str, torch.Tensor]]:
    return {v: testing.random_state_dict("tiny", v, seed=11) for v in ("scail", "scail2")}


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("qtype", list(BLOCKS), ids=lambda q: GGML(q).name)
def test_torch_dequantisers_give_gguf_quants_bit_for_bit(qtype: int) -> None:
    block, nbytes = gguf.GGML_QUANT_SIZES[GGML(qtype)]
    if GGML(qtype) in K_HALVES:
        raw = random_blocks(GGML(qtype), 64 * block, seed=qtype)
    else:  # every byte random, then sane fp16 scale (and minimum) fields
        raw = np.random.default_rng(qtype).integers(0, 256, size=(64, nbytes), dtype=np.uint8)
        fields = 2 if GGML(qtype) in (GGML.Q4_1, GGML.Q5_1) else 1
        raw[:, : 2 * fields] = np.full((64, fields), 0.01, np.float16).view(np.uint8)
    expected = gguf.quants.dequantize(raw, GGML(qtype)).reshape(-1)
    ours = dequantise(torch.from_numpy(raw), qtype, (64 * block,))
    assert np.isfinite(expected).all() and expected.std() > 0
    assert np.array_equal(ours.numpy(), expected.astype(np.float32))


@pytest.mark.parametrize("variant", ["scail", "scail2"])
@pytest.mark.parametrize("qtype", QUANTISED, ids=lambda q: q.name)
def test_gguf_loads_the_network_it_stands_for(variant: str, qtype: GGML, states, tmp_path: Path) -> None:
    path, held = write_gguf(states[variant], tmp_path / f"scail-{qtype.name}.gguf", qtype)
    model = load_dit(path, dtype=torch.float32)
    layers = [m for m in model.blocks.modules() if isinstance(m, GgmlLinear)]
    assert len(layers) == 12 * len(model.blocks)  # self q k v o, cross q k v o k_img v_img, ffn.0 ffn.2
    assert all(layer.weight.dtype == torch.uint8 for layer in layers)
    packed = sum(layer.weight.numel() for layer in layers)
    values = sum(layer.shape[0] * layer.shape[1] for layer in layers)
    block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
    assert packed == values * nbytes // block  # the file's bytes, not floats
    reference = load_dit(testing.save_safetensors(held, tmp_path / "held.safetensors"), dtype=torch.float32)
    inputs = make_inputs(variant)
    # Same weights, same float32 kernels: measured bit-identical; 1e-6 bounds float32 reordering.
    assert relative(run(model, **inputs), run(reference, **inputs)) < 1e-6
    if qtype in (GGML.Q8_0, GGML.Q4_0, GGML.Q5_1):  # quantised from the float weights themselves
        official = load_dit(testing.save_safetensors(states[variant], tmp_path / "official.safetensors"),
                            dtype=torch.float32)
        # Each weight is within half a step (scale/2) of its block: 8 bits ~ 0.4 %, 5 bits ~ 3 %,
        # 4 bits ~ 6 % of the block's largest weight. Forward errors measured 1.6e-3 (Q8_0),
        # 1.2e-2 (Q5_1), 2.6e-2 (Q4_0) on SCAIL; bounds 4x that, and above 0 (the bytes were used).
        bound = {GGML.Q8_0: 6e-3, GGML.Q5_1: 0.05, GGML.Q4_0: 0.1}[qtype]
        assert 0 < relative(run(model, **inputs), run(official, **inputs)) < bound


def test_prefixed_bf16_gguf_and_dequantised_load(states, tmp_path: Path) -> None:
    path, held = write_gguf(states["scail"], tmp_path / "prefixed.gguf", GGML.Q8_0, GGML.BF16,
                            prefix="model.diffusion_model.")
    kept = load_dit(path, dtype=torch.float32)
    widened = load_dit(path, dtype=torch.float32, keep_quantised=False)
    assert not any(isinstance(m, GgmlLinear) for m in widened.modules())
    for name, tensor in widened.state_dict().items():
        assert torch.equal(tensor, held[name]), name
    inputs = make_inputs("scail")
    assert relative(run(kept, **inputs), run(widened, **inputs)) < 1e-6


def test_other_gguf_models_are_refused_by_name(states, tmp_path: Path) -> None:
    flux = {"double_blocks.0.img_attn.proj.weight": torch.randn(64, 64)}
    with pytest.raises(CheckpointError, match="GGUF of a 'flux' model"):
        load_dit(write_gguf(flux, tmp_path / "flux.gguf", GGML.Q8_0, arch="flux")[0])
    with pytest.raises(CheckpointError, match="GGUF text encoder"):
        load_dit(write_gguf(flux, tmp_path / "t5.gguf", GGML.Q8_0, arch="t5encoder")[0])
    wan_i2v = {k: v for k, v in states["scail"].items() if not k.startswith("patch_embedding_pose")}
    with pytest.raises(CheckpointError, match="plain Wan2.1-I2V .*not SCAIL"):
        load_dit(write_gguf(wan_i2v, tmp_path / "wan-i2v.gguf", GGML.Q4_0)[0])
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + bytes(8))
    with pytest.raises(CheckpointError, match="not a readable GGUF file"):
        load_dit(broken)


def lora_state(model: torch.nn.Module, rank: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    state = {}
    for name in ("blocks.0.self_attn.q", "blocks.1.ffn.2", "blocks.1.cross_attn.k_img"):
        layer = model.get_submodule(name)
        state[f"diffusion_model.{name}.lora_down.weight"] = torch.randn(rank, layer.in_features, generator=generator) * 0.1
        state[f"diffusion_model.{name}.lora_up.weight"] = torch.randn(layer.out_features, rank, generator=generator) * 0.1
        state[f"diffusion_model.{name}.alpha"] = torch.tensor(2.0)
    # lightx2v-style full deltas: a norm's weight and a quantised layer's bias (float tensors
    # the file holds; they must be writable copies, not views of a read-only memory map).
    state["diffusion_model.blocks.0.norm3.diff"] = torch.randn(256, generator=generator) * 0.1
    state["diffusion_model.blocks.1.ffn.2.diff_b"] = torch.randn(256, generator=generator) * 0.1
    return state


@pytest.mark.parametrize("mode", ["merge", "live"])
def test_lora_on_a_gguf_model(mode: str, states, tmp_path: Path) -> None:
    """Merged: kept beside the bytes and added to each call's dequantised weight; live: hooks."""
    path, held = write_gguf(states["scail"], tmp_path / "q8.gguf", GGML.Q8_0)
    model = load_dit(path, dtype=torch.float32)
    widened = load_dit(path, dtype=torch.float32, keep_quantised=False)
    lora = lora_state(widened)
    merge_lora(widened, read_lora(lora, widened), 0.8)
    if mode == "merge":
        merge_lora(model, read_lora(lora, model), 0.8)
        assert len(model.blocks[0].self_attn.q.patches) == 1 and model.blocks[0].self_attn.q.weight.dtype == torch.uint8
    else:
        attach_lora(model, read_lora(lora, model), 0.8)
    inputs = make_inputs("scail")
    expected = run(widened, **inputs)
    plain = run(load_dit(path, dtype=torch.float32), **inputs)
    assert relative(plain, expected) > 1e-3  # the LoRA changes the output
    # The same sum in another order (W + s*up@down per call, or a hook): float32 rounding only.
    assert relative(run(model, **inputs), expected) < 1e-5


def test_convert_writes_the_weights_a_gguf_stands_for(states, tmp_path: Path) -> None:
    from safetensors import safe_open

    from scail_blender.cli import main

    path, held = write_gguf(states["scail2"], tmp_path / "q5.gguf", GGML.Q5_1)
    assert main(["convert", str(path), str(tmp_path / "plain.safetensors"), "--dtype", "float32"]) == 0
    with safe_open(tmp_path / "plain.safetensors", framework="pt") as handle:
        assert set(handle.keys()) == set(held)
        for name in ("blocks.1.ffn.0.weight", "patch_embedding_mask.weight", "blocks.0.modulation"):
            assert torch.equal(handle.get_tensor(name), held[name]), name
