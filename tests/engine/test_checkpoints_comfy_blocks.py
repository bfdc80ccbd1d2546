"""ComfyUI's int8_tensorwise (per tensor, per row, ConvRot), mxfp8 and nvfp4 DiT files load with
their blocks' linears kept in the stored bytes, compute the weights the bytes stand for, and are
refused with a CheckpointError that names what is wrong when damaged.

Files come from tests/support/comfy_quant.py, which writes them as comfy-kitchen and ComfyUI do
and returns the float32 weights they stand for (computed before packing and swizzling)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from scail_blender.cli import main
from scail_blender.engine import testing
from scail_blender.engine.checkpoints.loading import load_dit
from scail_blender.engine.lora import attach_lora, merge_lora, read_lora
from scail_blender.engine.models.blockquant import BlockQuantLinear
from scail_blender.errors import CheckpointError, InputError
from scail_blender.jobs.weights.identify import identify
from tests.engine.test_checkpoints_gguf import lora_state, relative
from tests.engine.test_dit_model import make_inputs, run
from tests.support.comfy_quant import PREFIX, hadamard, save_blockquant

STORED = {"int8": torch.int8, "int8_rows": torch.int8, "int8_convrot": torch.int8, "mxfp8": torch.float8_e4m3fn,
          "nvfp4": torch.uint8}
# Relative L2 error of one tiny forward against the float32 file's, measured (SCAIL-2): int8 0.9%,
# per row 0.75%, ConvRot 0.79%, mxfp8 2.9%, nvfp4 10.2% (10.9% smoothed). The forward follows its
# weights' error (measured ratio about 1); the bounds are the formats' rounding with room: an int8
# step is absmax / 127 (about 1.2% rms of these weights), e4m3 keeps 2^-4 relative, E2M1 1/4.
FORWARD_BOUND = {"int8": 0.03, "int8_rows": 0.03, "int8_convrot": 0.03, "mxfp8": 0.08, "nvfp4": 0.25}


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return testing.random_state_dict("tiny", "scail2", seed=11)


@pytest.fixture(scope="module")
def expected(state, tmp_path_factory) -> torch.Tensor:
    """The float32 file's forward on the tiny inputs."""
    path = testing.save_safetensors(state, tmp_path_factory.mktemp("official") / "f32.safetensors")
    return run(load_dit(path, dtype=torch.float32), **make_inputs("scail2"))


@pytest.fixture(scope="module")
def written(state, tmp_path_factory):
    """Each kind's file, written once for the module: (path, the weights it stands for)."""
    root, files = tmp_path_factory.mktemp("written"), {}

    def get(kind: str) -> tuple[Path, dict[str, torch.Tensor]]:
        if kind not in files:
            files[kind] = save_blockquant(state, root / f"{kind}.safetensors", kind)
        return files[kind]

    return get


def within_rounding(kind: str, meant: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a stored weight is the original within its format's rounding (per element, or per
    row for ConvRot, whose int8 rounding happens in the rotated basis: orthogonal, so a row's L2
    error keeps its rotated size, at most sqrt(inputs) half steps)."""
    error, w = (meant - weight).abs(), weight.float()
    if kind == "int8_convrot":  # rows rotated group by group before rounding (w @ H^T)
        rotated = (w.reshape(w.shape[0], -1, 256) @ hadamard(256).T).reshape(w.shape)
        step = rotated.abs().amax(dim=1) / 127
        return bool((error.norm(dim=1) <= math.sqrt(w.shape[1]) * step / 2 * (1 + 1e-5)).all())
    if kind.startswith("int8"):  # half a step of absmax / 127, per tensor or per row
        step = (w.abs().amax(dim=1, keepdim=True) if kind == "int8_rows" else w.abs().max()) / 127
        return bool((error <= step / 2 * (1 + 1e-5)).all())  # 1e-5: float32 rounding of w / step and q * step
    blocks = w.reshape(w.shape[0], -1, 32 if kind == "mxfp8" else 16)
    amax = blocks.abs().amax(dim=-1, keepdim=True)
    if kind == "mxfp8":  # e4m3 under a power-of-two scale: 2^-4 relative, or half a subnormal step
        factor = torch.exp2(torch.ceil(torch.log2(amax / 448)))
        bound = torch.maximum(blocks.abs() * 2**-4, factor * 2**-10)
    else:  # E2M1 under the block's scale (amax / 6, rounded to e4m3: at most 2^-4 more): 1/4 relative, or 1/4 scale
        bound = torch.maximum(blocks.abs() / 4, amax / 6 * (1 + 2**-4) / 4)
    return bool((error.reshape(blocks.shape) <= bound * (1 + 1e-6)).all())


@pytest.mark.parametrize("kind", list(STORED))
def test_block_formats_load_as_the_weights_they_stand_for(kind, state, expected, written) -> None:
    path, meant = written(kind)
    model = load_dit(path, dtype=torch.float32)
    layers = [m for m in model.blocks.modules() if isinstance(m, BlockQuantLinear)]
    assert len(layers) == sum(n.startswith("blocks.") for n in meant) > 0
    assert all(m.weight.dtype == STORED[kind] for m in layers)
    widened = load_dit(path, dtype=torch.float32, keep_quantised=False)
    loaded = widened.state_dict()
    assert loaded.keys() == state.keys()  # scales and configs consumed
    for name, weight in meant.items():
        if kind == "int8_convrot":  # undone by a matmul of 256-term sums, whose order BLAS may choose:
            # float32 rounding, at most 256 * 2^-24 of the sum of |terms|, which is at most the group's L2
            # norm (entries 1/16, rotation orthogonal), at most 16 max|weight|
            bound = 256 * 2**-24 * 16 * weight.abs().max()
            assert (loaded[name] - weight).abs().max() <= bound, name
        else:  # elementwise products: unpacking, unswizzling, nibble order exact on any IEEE machine
            assert torch.equal(loaded[name], weight), name
        assert within_rounding(kind, weight, state[name]), name
    # Dequantised per call or once on load: the same float32 products.
    out = run(model, **make_inputs("scail2"))
    assert relative(out, run(widened, **make_inputs("scail2"))) < 1e-6
    assert 0 < relative(out, expected) < FORWARD_BOUND[kind], relative(out, expected)


def test_header_metadata_form_and_bare_names_load_the_same(state, written, tmp_path: Path) -> None:
    path, meant = written("nvfp4")
    header, _ = save_blockquant(state, tmp_path / "header.safetensors", "nvfp4", in_header=True, prefix="")
    with safe_open(header, framework="pt") as handle:
        assert not any(k.endswith(".comfy_quant") for k in handle.keys())
    a, b = (load_dit(p, dtype=torch.float32).state_dict() for p in (path, header))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_nvfp4_pre_quant_scale_is_folded_into_the_weight(state, expected, tmp_path: Path) -> None:
    path, meant = save_blockquant(state, tmp_path / "smooth.safetensors", "nvfp4", smooth=True)
    loaded = load_dit(path, dtype=torch.float32, keep_quantised=False).state_dict()
    assert all(torch.equal(loaded[n], w) for n, w in meant.items())
    error = relative(run(load_dit(path, dtype=torch.float32), **make_inputs("scail2")), expected)
    assert 0 < error < FORWARD_BOUND["nvfp4"], error


def test_identify_names_the_quantisation(state, written, tmp_path: Path) -> None:
    for kind, label in (("int8", "int8"), ("mxfp8", "mxfp8"), ("nvfp4", "nvfp4")):
        found = identify(written(kind)[0])
        assert (found.role, found.layout, found.dtype, found.variant, found.refused) == ("dit", "ComfyUI", label, "scail2", "")
    bare = identify(save_blockquant(state, tmp_path / "bare.safetensors", "mxfp8", in_header=True, prefix="")[0])
    assert (bare.layout, bare.dtype, bare.usable) == ("ComfyUI", "mxfp8", True)


def rewrite(source: Path, path: Path, change) -> Path:
    with safe_open(source, framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        metadata = handle.metadata()
    result = change(tensors, metadata)
    metadata = result if isinstance(result, dict) else metadata
    save_file(tensors, str(path), metadata=metadata)
    return path


def quant_json(config: dict | str) -> torch.Tensor:
    text = config if isinstance(config, str) else json.dumps(config)
    return torch.tensor(list(text.encode()), dtype=torch.uint8)


LAYER = PREFIX + "blocks.1.ffn.0"
DAMAGES = {
    "no tensor scale": ("nvfp4", lambda t, m: t.pop(LAYER + ".weight_scale_2"),
                        r"blocks.1.ffn.0 is stored as nvfp4 but has no weight_scale_2"),
    "no int8 scale": ("int8", lambda t, m: t.pop(LAYER + ".weight_scale"), "stored as int8_tensorwise but has no weight_scale"),
    "cut block scales": ("mxfp8", lambda t, m: t.update({LAYER + ".weight_scale": t[LAYER + ".weight_scale"][:, :4].clone()}),
                         r"weight_scale has U8 \[512, 4\], not the mxfp8 scales of a \[512, 256\] weight \(\[512, 8\]"),
    "int8 scale per column": ("int8", lambda t, m: t.update({LAYER + ".weight_scale": torch.ones(1, 256)}),
                              r"not the int8_tensorwise scales .*one value or 512 \(one per row\)"),
    "bad JSON": ("nvfp4", lambda t, m: t.update({LAYER + ".comfy_quant": quant_json("{format: nvfp4")}),
                 "blocks.1.ffn.0.comfy_quant is not ComfyUI quantisation JSON"),
    "bad header": ("nvfp4", lambda t, m: {"_quantization_metadata": "{\"layers\": [1, 2]"},
                   "_quantization_metadata header is not ComfyUI's per-layer JSON"),
    "widened weight": ("int8", lambda t, m: t.update({LAYER + ".weight": t[LAYER + ".weight"].float()}),
                       r"marked int8_tensorwise but stored as F32 \[512, 256\]"),
    "ConvRot group": ("int8", lambda t, m: t.update({LAYER + ".comfy_quant": quant_json(
        {"format": "int8_tensorwise", "convrot": True, "convrot_groupsize": 100})}), "ConvRot group size 100 is not a power of 4"),
    "unknown format": ("int8", lambda t, m: t.update({LAYER + ".comfy_quant": quant_json({"format": "convrot_w4a4"})}),
                       "ComfyUI's convrot_w4a4 quantisation, which scail-blender does not read yet"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_files_are_refused_by_name(damage, written, tmp_path: Path) -> None:
    kind, change, message = DAMAGES[damage]
    path = rewrite(written(kind)[0], tmp_path / "damaged.safetensors", change)
    with pytest.raises(CheckpointError, match=message):
        load_dit(path)
    if damage in ("unknown format", "bad JSON"):  # a folder listing refuses them too
        assert "does not read" in identify(path).refused


def test_convert_writes_the_weights_the_file_stands_for(state, written, tmp_path: Path) -> None:
    path, meant = written("nvfp4")
    assert main(["convert", str(path), str(tmp_path / "plain.safetensors"), "--dtype", "float32"]) == 0
    with safe_open(tmp_path / "plain.safetensors", framework="pt") as handle:
        assert set(handle.keys()) == set(state)
        assert all(torch.equal(handle.get_tensor(n), w) for n, w in meant.items())


@pytest.mark.parametrize("mode", ["merge", "live"])
def test_lora_on_a_block_quantised_model(mode: str, written) -> None:
    """Merged: the pair kept beside the bytes and added to each call's dequantised weight; live:
    hooks. Either way the LoRA merged into the widened weights, up to float32 rounding."""
    path, _ = written("mxfp8")
    model, widened = load_dit(path, dtype=torch.float32), load_dit(path, dtype=torch.float32, keep_quantised=False)
    lora = lora_state(widened)
    merge_lora(widened, read_lora(lora, widened), 0.8)
    if mode == "merge":
        merge_lora(model, read_lora(lora, model), 0.8)
        assert len(model.blocks[0].self_attn.q.patches) == 1 and model.blocks[0].self_attn.q.weight.dtype == torch.float8_e4m3fn
    else:
        attach_lora(model, read_lora(lora, model), 0.8)
    inputs = make_inputs("scail2")
    expected = run(widened, **inputs)
    assert relative(run(load_dit(path, dtype=torch.float32), **inputs), expected) > 1e-3  # the LoRA changes the output
    assert relative(run(model, **inputs), expected) < 1e-5
    with pytest.raises(InputError, match="replaces whole weights .*int8, mxfp8 or nvfp4"):
        merge_lora(model, read_lora({"diffusion_model.blocks.0.self_attn.q.diff": torch.zeros(256, 256)}, model))
