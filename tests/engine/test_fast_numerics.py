"""The lossy fast modes' errors, measured at the tiny config on the CPU: fp8 linears and 8-bit attention.

The CPU runs the same quantisation as the GPU paths (fp8: quantise-dequantise around a float32
matmul; sage: the torch version of the recipe), so these errors are the recipes' own. The bounds
are a little above what was measured when they were written (printed with -s), so a regression
in the maths fails while rounding noise does not.
"""

from __future__ import annotations

import torch

from scail_blender.engine.testing import random_state_dict
from scail_blender.engine.models.attention import attention, quantize_int8_blocks, sage_reference
from scail_blender.engine.models.dit import DitConfig, ScailDiT
from scail_blender.engine.models.fp8 import FP8, Fp8Linear, convert_blocks_to_fp8, quantize_fp8
from scail_blender.engine.models.wan_block import Linear

from tests.engine.test_dit_model import make_inputs


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def make_model(variant: str = "scail2") -> ScailDiT:
    config = DitConfig.preset("tiny", variant)
    model = ScailDiT(config)
    model.load_state_dict(random_state_dict(config, seed=3))
    return model.eval()


def test_fp8_quantisation_keeps_e4m3_precision() -> None:
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(0))
    values, scale = quantize_fp8(x, dim=1)
    assert values.dtype == FP8 and scale.shape == (64, 1)
    assert float(values.float().abs().amax()) == 448.0  # each row uses the whole e4m3 range
    assert relative(values.float() * scale, x) < 0.04  # 3 mantissa bits: at most 1/16 per value


def test_fp8_forward_error_against_float32() -> None:
    model = make_model()
    inputs = make_inputs("scail2")
    with torch.no_grad():
        reference = model(**inputs)
        converted = convert_blocks_to_fp8(model.blocks)
        out = model(**inputs)
    assert converted == 2 * (4 + 6 + 2)  # per block: self q k v o, cross q k v o k_img v_img, MLP
    assert not any(isinstance(m, Linear) for m in model.blocks.modules())
    error = relative(out, reference)
    print(f"fp8 relative error of one forward: {error:.4f}")
    assert 1e-4 < error < 0.05


def test_fp8_from_bf16_weights_against_bf16_and_float32() -> None:
    """The inference setting: bf16 weights quantised. Measured 1.27% vs bf16, 1.31% vs float32 (bf16: 0.38%)."""
    model = make_model()
    inputs = make_inputs("scail2")
    with torch.no_grad():
        reference = model(**inputs)
        bf16 = model.to(torch.bfloat16)(**inputs)
        convert_blocks_to_fp8(model.blocks)
        fp8 = model(**inputs)
    print(f"relative error of one forward: bf16 {relative(bf16, reference):.4f}, fp8 vs bf16 "
          f"{relative(fp8, bf16):.4f}, fp8 vs float32 {relative(fp8, reference):.4f}")
    assert relative(bf16, reference) < 0.01 and relative(fp8, bf16) < 0.03 and relative(fp8, reference) < 0.03
    assert model.blocks[0].ffn[0].input_dtype == torch.bfloat16


def test_fp8_linear_matches_its_dequantised_weights() -> None:
    linear = Linear(256, 128)
    fp8 = Fp8Linear.from_linear(linear)
    x = torch.randn(3, 7, 256)
    x8, x_scale = quantize_fp8(x.reshape(-1, 256), dim=None)
    expected = (x8.float() * x_scale) @ (fp8.weight.float() * fp8.weight_scale).T + linear.bias
    assert torch.allclose(fp8(x), expected.reshape(3, 7, 128), atol=1e-5)
    assert fp8.weight.element_size() == 1 and fp8.input_dtype == torch.float32


def test_int8_blocks_scale_each_block_of_tokens() -> None:
    x = torch.randn(1, 2, 200, 128, generator=torch.Generator().manual_seed(0))
    x[:, :, :64] *= 100  # one loud block must not crush the others' resolution
    values, scale = quantize_int8_blocks(x, 64)
    assert values.abs().max() <= 127 and torch.equal(values, values.round())
    assert scale[0, 0, 0, 0] > 50 * scale[0, 0, 100, 0]
    assert bool(((values * scale - x).abs() <= scale / 2 * (1 + 1e-5)).all())  # round to nearest, per block
    assert relative(values * scale, x) < 0.015  # a 4-sigma absmax over 127 steps: about 1% rms


def test_sage_attention_error_against_exact_attention() -> None:
    """About 1.3% relative error on random heads (measured); smoothing K halves it."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 300, 128, generator=g) for _ in range(3))
    k = k + 3.0 * torch.randn(1, 2, 1, 128, generator=g)  # a shared key offset, as real keys have
    exact = attention(q, k, v, "sdpa")
    error = relative(sage_reference(q, k, v), exact)
    q_int, q_scale = quantize_int8_blocks(q, 128)
    k_int, k_scale = quantize_int8_blocks(k, 64)  # the same int8 scheme without smoothing
    raw = torch.softmax((q_int * q_scale) @ (k_int * k_scale).transpose(-1, -2) / 128**0.5, dim=-1) @ v
    print(f"sage relative error against exact attention: {error:.4f} (unsmoothed K: {relative(raw, exact):.4f})")
    assert error < 0.02 and error < 0.7 * relative(raw, exact)


def test_sage_in_the_model_stays_close_and_cross_attention_stays_exact() -> None:
    model = make_model()
    inputs = make_inputs("scail2")
    with torch.no_grad():
        reference = model(**inputs)
        model.set_attention("sage")
        out = model(**inputs)
    assert model.blocks[0].self_attn.kernel == "sage" and model.blocks[0].cross_attn.kernel == "auto"
    error = relative(out, reference)
    print(f"sage relative error of one forward: {error:.5f}")
    assert 0 < error < 0.02
