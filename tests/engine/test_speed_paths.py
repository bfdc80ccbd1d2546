"""The full-quality fast path computes the plain model: attention by name, cached RoPE, compile, CFG.

Everything runs at the tiny float32 config on the CPU, where the fused GPU kernels do not exist:
what is checked is that the restructured code (kernel dispatch, [B, H, L, D] views, real-valued
RoPE from the cache, compiled blocks, two-pass CFG, the sampling loop) gives the plain numbers.
"""

from __future__ import annotations

import pytest
import torch

from scail_blender.engine.testing import random_state_dict
from scail_blender.engine.models.attention import KERNELS, attention, exact_kernel
from scail_blender.engine.models.dit import DitConfig, ScailDiT, TokenLayout, add_mask_channels
from scail_blender.engine.sampling import denoise, make_sampler
from scail_blender.engine.guidance import guided_forward
from scail_blender.engine.step_cache import StepCache

from tests.engine.test_dit_model import make_inputs


def make_model(variant: str) -> ScailDiT:
    config = DitConfig.preset("tiny", variant)
    model = ScailDiT(config)
    model.load_state_dict(random_state_dict(config, seed=3))
    return model.eval()


def test_every_exact_kernel_gives_the_same_attention() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 40, 128, generator=g) for _ in range(3))
    plain = attention(q, k, v, "sdpa")
    for name in ("auto", "math"):
        assert torch.allclose(attention(q, k, v, name), plain, atol=1e-6), name
    assert exact_kernel("sage") == "auto" and set(KERNELS) >= {"auto", "sdpa", "sage"}
    with pytest.raises(ValueError, match="unknown attention kernel"):
        attention(q, k, v, "xformers")


@pytest.mark.parametrize("variant", ["scail", "scail2"])
def test_optimised_path_equals_the_plain_path(variant: str) -> None:
    """auto kernel + compiled blocks (graph capture, fullgraph) + cached RoPE == plain, 1e-5."""
    plain, fast = make_model(variant), make_model(variant)
    fast.set_attention("auto")
    fast.compile_blocks(backend="aot_eager", fullgraph=True)
    inputs = make_inputs(variant)
    with torch.no_grad():
        reference = plain(**inputs)
        first, second = fast(**inputs), fast(**inputs)
    assert (first - reference).abs().max() < 1e-5
    assert torch.equal(first, second)
    assert len(fast._rope_cache) == 1  # built once, reused by the second forward


def test_rope_factors_are_cached_per_layout_and_mode() -> None:
    model = make_model("scail2")
    layout = TokenLayout(0, 2, 4, 4)
    a = model.rope_factors(layout, False, torch.device("cpu"))
    assert model.rope_factors(layout, False, torch.device("cpu")) is a
    assert model.rope_factors(layout, True, torch.device("cpu")) is not a
    assert a.shape == (layout.total, 64, 2) and a.dtype == torch.float32


@pytest.mark.parametrize("variant", ["scail", "scail2"])
def test_cfg_as_two_passes_equals_the_batch_of_two(variant: str) -> None:
    model = make_model(variant)
    inputs = make_inputs(variant)
    context = torch.cat([inputs["context"], torch.randn_like(inputs["context"])])
    extra = {k: inputs[k] for k in ("ref_mask", "pose_mask") if k in inputs}
    args = (model, inputs["x"], inputs["t"], context, inputs["clip_fea"], inputs["ref"], inputs["pose"], 5.0)
    batch = guided_forward(*args, cfg_batch=True, **extra)
    passes = guided_forward(*args, cfg_batch=False, **extra)
    # Batched and separate matrix products round differently in float32: equal to 1e-5 relative.
    torch.testing.assert_close(passes, batch, rtol=1e-5, atol=1e-5 * batch.abs().max().item())
    assert not torch.allclose(batch, guided_forward(*args[:-1], 1.0, **extra), atol=1e-4)


def test_the_sampling_loop_never_reads_a_device_value() -> None:
    """On the meta device any .item(), float(tensor) or .cpu() raises: the whole loop runs on it."""
    config = DitConfig.preset("tiny", "scail")
    with torch.device("meta"):
        model = ScailDiT(config).eval()
        x = torch.empty(1, 16, 2, 8, 8)
        context = torch.empty(2, 5, 64)
        clip_fea = torch.empty(1, 257, 64)
        ref = add_mask_channels(torch.empty(1, 16, 1, 8, 8), 1.0)
        pose = add_mask_channels(torch.empty(1, 16, 2, 4, 4), 1.0)
    calls = []
    cache = None

    def velocity(latent: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        assert timestep.device.type == "meta"  # the schedule went to the device once, up front
        calls.append(timestep)
        x_in = torch.cat([latent, torch.zeros_like(latent[:, :4])], dim=1)
        return guided_forward(model, x_in, timestep.float(), context, clip_fea, ref, pose, 5.0, cache=cache)

    for name in ("unipc", "euler"):
        # A step cache's plan is made before the loop; reusing residuals inside it reads nothing back.
        for cache in (None, StepCache([True, False, True, False])):  # noqa: B007 (velocity() reads it)
            calls.clear()
            out = denoise(make_sampler(name, 4, 3.0), velocity, x)
            assert out.device.type == "meta" and out.shape == x.shape and len(calls) == 4
