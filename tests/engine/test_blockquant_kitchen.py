"""Our int8 / mxfp8 / nvfp4 writer and dequantiser against comfy-kitchen's own (its eager, pure
torch backend), where that package is installed: not in CI, which skips this file. Run with
``pip install --target DIR --no-deps comfy-kitchen`` and ``PYTHONPATH=DIR`` (0.2.40: passed)."""

from __future__ import annotations

import pytest
import torch

from scail_blender.engine.models.blockquant import dequantise
from tests.support import comfy_quant

kitchen = pytest.importorskip("comfy_kitchen.backends.eager.quantization")


@pytest.mark.parametrize("shape", [(256, 512), (64, 256)])  # 64 rows: block scales padded to 128
def test_kitchen_bytes_and_values_are_ours(shape: tuple[int, int]) -> None:
    weight = torch.randn(*shape, generator=torch.Generator().manual_seed(3)) * 0.05
    q, scale = kitchen.quantize_mxfp8(weight)
    ours = comfy_quant.mxfp8(weight)[0]
    assert torch.equal(q.view(torch.uint8), ours["weight"].view(torch.uint8))
    assert torch.equal(scale.view(torch.uint8), ours["weight_scale"])
    assert torch.equal(dequantise("mxfp8", q, scale.view(torch.uint8)), kitchen.dequantize_mxfp8(q, scale, torch.float32))
    tensor_scale = weight.abs().max() / (448 * 6)
    q, scale = kitchen.quantize_nvfp4(weight, tensor_scale)
    ours = comfy_quant.nvfp4(weight)[0]
    assert (q != ours["weight"]).float().mean() < 1e-3  # a value exactly between two codes may round either way
    assert torch.equal(scale.view(torch.uint8), ours["weight_scale"].view(torch.uint8))
    expected = kitchen.dequantize_nvfp4(q, tensor_scale, scale, torch.float32)
    assert torch.equal(dequantise("nvfp4", q, scale, tensor_scale), expected)
    for per_row in (False, True):
        q, scale = kitchen.quantize_int8_rowwise(weight) if per_row else kitchen.quantize_int8_tensorwise(weight)
        assert torch.equal(q, comfy_quant.int8(weight, per_row=per_row)[0]["weight"])
        assert torch.equal(dequantise("int8_tensorwise", q, scale), kitchen.dequantize_int8_simple(q, scale))
    q, scale = kitchen.quantize_int8_convrot_weight(weight, 256)
    assert torch.equal(q, comfy_quant.int8(weight, per_row=True, convrot=256)[0]["weight"])
    assert torch.allclose(dequantise("int8_tensorwise", q, scale, group=256),
                          kitchen.dequantize_int8_convrot_weight(q, scale, 256), rtol=1e-5, atol=1e-7)
