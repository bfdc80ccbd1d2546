"""fp8, int8, mxfp8, nvfp4 and GGUF DiT files on a CUDA GPU: torch._scaled_mm where the GPU has
fp8 matmuls, the GGML and ComfyUI block dequantisers on the device, and the GPU memory the model takes.

Skipped without a GPU (CI has none); run on one with
``pytest -m gpu -s tests/engine/test_gpu_quantised.py``. The CPU tests (test_checkpoints_gguf.py,
test_quantised_speed.py, test_quantised_memory.py) cover the same files through the paths a CPU
takes; these prove the CUDA paths give the same network within bf16 and fp8 rounding.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import gguf
import pytest
import torch

from scail_blender.engine import testing
from scail_blender.engine.checkpoints.loading import load_dit
from scail_blender.engine.models import fp8 as fp8_module
from scail_blender.engine.models.blockquant import BlockQuantLinear
from scail_blender.engine.models.dit import DitConfig
from scail_blender.engine.models.ggml import BLOCKS, dequantise
from tests.engine.test_checkpoints_comfy import save_scaled_fp8
from tests.engine.test_checkpoints_gguf import relative
from tests.engine.test_dit_model import make_inputs
from tests.support.comfy_quant import save_blockquant
from tests.support.gguf_files import GGML, random_blocks, write_gguf

pytestmark = pytest.mark.gpu
BLOCK_KINDS = ("int8_convrot", "mxfp8", "nvfp4")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gpu_quantised")
    config = replace(DitConfig.preset("tiny", "scail"), dim=1024, ffn_dim=4096, num_heads=8, num_layers=8)
    state = testing.random_state_dict(config, seed=6)
    return {"bf16": testing.save_safetensors({k: v.to(torch.bfloat16) for k, v in state.items()}, root / "bf16.safetensors"),
            "fp8": save_scaled_fp8(state, root / "fp8_scaled.safetensors"),
            "Q8_0": write_gguf(state, root / "Q8_0.gguf", GGML.Q8_0)[0],
            "Q4_K": write_gguf(state, root / "Q4_K.gguf", GGML.Q4_K)[0],
            **{kind: save_blockquant(state, root / f"{kind}.safetensors", kind)[0] for kind in BLOCK_KINDS}}


def forward(model: torch.nn.Module, device: str, dtype: torch.dtype) -> torch.Tensor:
    inputs = {k: v.to(device, dtype) for k, v in make_inputs("scail").items()}
    inputs["context"] = torch.randn(1, 5, 64, generator=torch.Generator().manual_seed(1)).to(device, dtype)
    inputs["clip_fea"] = torch.randn(1, 257, 64, generator=torch.Generator().manual_seed(2)).to(device, dtype)
    with torch.no_grad():
        return model(**inputs).float().cpu()


@pytest.mark.parametrize("qtype", list(BLOCKS), ids=lambda q: GGML(q).name)
def test_dequantisers_on_the_gpu_give_the_cpus_values(qtype: int) -> None:
    block, nbytes = gguf.GGML_QUANT_SIZES[GGML(qtype)]
    raw = torch.randint(0, 256, (512, nbytes), dtype=torch.uint8, generator=torch.Generator().manual_seed(qtype))
    if GGML(qtype) in (GGML.Q4_K, GGML.Q5_K, GGML.Q6_K):
        raw = torch.from_numpy(random_blocks(GGML(qtype), 512 * block, seed=qtype))
    else:
        raw[:, :4] = torch.tensor([0.01, 0.02], dtype=torch.float16).view(torch.uint8)
    cpu = dequantise(raw, qtype, (512 * block,))
    assert torch.equal(dequantise(raw.cuda(), qtype, (512 * block,)).cpu(), cpu)


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_block_dequantisers_on_the_gpu_give_the_cpus_values(kind: str, files) -> None:
    model = load_dit(files[kind], dtype=torch.float32)
    layer = next(m for m in model.blocks.modules() if isinstance(m, BlockQuantLinear))
    cpu = layer.dequantised(torch.float32)
    gpu = layer.to("cuda").dequantised(torch.float32).cpu()
    # Products of exact values (scale x code) agree bit for bit; ConvRot's rotation is a float32 matmul.
    assert torch.equal(gpu, cpu) if kind != "int8_convrot" else torch.allclose(gpu, cpu, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["fp8", "Q8_0", "Q4_K", *BLOCK_KINDS])
def test_a_quantised_file_on_the_gpu(name: str, files, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = torch._scaled_mm
    monkeypatch.setattr(torch, "_scaled_mm", lambda *a, **k: calls.append(1) or real(*a, **k))
    expected = forward(load_dit(files[name], dtype=torch.float32, keep_quantised=False), "cpu", torch.float32)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = load_dit(files[name], dtype=torch.bfloat16, device="cuda")
    held = torch.cuda.memory_allocated()
    out = forward(model, "cuda", torch.bfloat16)
    peak = torch.cuda.max_memory_allocated()
    del model
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    bf16 = load_dit(files["bf16"], dtype=torch.bfloat16, device="cuda")
    bf16_held = torch.cuda.memory_allocated()
    forward(bf16, "cuda", torch.bfloat16)
    bf16_peak = torch.cuda.max_memory_allocated()
    del bf16
    error = relative(out, expected)
    mib = 2**20
    print(f"{name}: rel. error {error:.2e}, scaled_mm calls {len(calls)}, held {held / mib:.0f} MiB "
          f"(bf16 {bf16_held / mib:.0f}), peak {peak / mib:.0f} MiB (bf16 {bf16_peak / mib:.0f})")
    if name == "fp8":
        # On fp8 GPUs the activations are rounded to e4m3 too: bf16 + two fp8 roundings, 0.06.
        assert (len(calls) > 0) == fp8_module.has_fp8_matmul(torch.device("cuda"))
        assert error < 0.06
    else:  # the same dequantised weights, the matmuls in bf16 (2^-8 relative per value)
        assert not calls and error < 0.03
    # From the sizes: of the bf16 model's 320 MB, the blocks' linears are 302; fp8 keeps them in
    # 151 MB, Q8_0 in 160, Q4_K in 85, so held is about 0.53, 0.56 and 0.32 of bf16's; the peak adds
    # one layer's dequantisation (about 40 MB). Measured on an H100 (2026-12-08): held 0.48, 0.62
    # and 0.38 of bf16's, peaks 0.60, 0.65 and 0.42. int8 and mxfp8 hold about what fp8 does (a
    # byte a weight plus small scales), nvfp4 a little more than Q4_K (half a byte plus a byte per 16).
    small = name in ("Q4_K", "nvfp4")
    assert held < (0.4 if small else 0.65) * bf16_held
    assert peak < (0.6 if small else 0.8) * bf16_peak
