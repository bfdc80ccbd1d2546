"""TeaCache step skipping: off at threshold 0, skips (and says how many) above it, blocks really skipped."""

from __future__ import annotations

import torch

from scail_blender.engine.testing import random_state_dict
from scail_blender.engine.models.dit import DitConfig, ScailDiT
from scail_blender.engine.sampling import denoise, make_sampler
from scail_blender.engine.guidance import guided_forward
from scail_blender.engine.step_cache import (
    COEFFICIENTS,
    WARMUP_STEPS,
    plan_from_distances,
    plan_steps,
    relative_l1,
    rescale,
)

from tests.engine.test_dit_model import make_inputs

STEPS = 10
# Random weights move the time projection by about 100% per step (a trained model by a few %), far
# outside the published polynomial's range; the model-level tests use d -> d and thresholds to match.
IDENTITY = (1.0, 0.0)


def make_model() -> ScailDiT:
    config = DitConfig.preset("tiny", "scail")
    model = ScailDiT(config)
    model.load_state_dict(random_state_dict(config, seed=3))
    return model.eval()


def sample(model: ScailDiT, threshold: float | None, cfg_batch: bool = True) -> tuple[torch.Tensor, int, int]:
    """Denoise tiny inputs; returns the latent, the steps skipped and how often block 0 ran."""
    inputs = make_inputs("scail")
    context = torch.cat([inputs["context"], torch.zeros_like(inputs["context"])])
    sampler = make_sampler("unipc", STEPS, 3.0)
    cache = plan_steps(model, sampler.timesteps, threshold, IDENTITY) if threshold is not None else None
    runs = []
    hook = model.blocks[0].register_forward_hook(lambda *_: runs.append(1))

    def velocity(x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        x_in = torch.cat([x, inputs["x"][:, 16:]], dim=1)
        return guided_forward(model, x_in, timestep.float().reshape(1), context, inputs["clip_fea"], inputs["ref"],
                              inputs["pose"], 5.0, cfg_batch=cfg_batch, cache=cache)

    noise = torch.randn(1, 16, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    out = denoise(sampler, velocity, noise)
    hook.remove()
    return out, cache.skipped if cache is not None else 0, len(runs)


def test_polynomial_and_distances() -> None:
    assert rescale(0.0, COEFFICIENTS["wan2.1-i2v-14b-480p"]) == 1.32517977e-01
    assert abs(rescale(2.0, (1.0, -3.0, 0.5)) - (4 - 6 + 0.5)) < 1e-12
    seq = torch.tensor([[1.0, -2.0], [1.5, -2.5], [1.5, -2.5]])
    assert torch.allclose(relative_l1(seq), torch.tensor([1.0 / 3.0, 0.0]))


def test_plan_follows_the_accumulation_rule() -> None:
    linear = (0.0, 1.0, 0.0)  # rescale(d) = d, to follow the sums by hand
    distances = [0.3] * 9
    assert plan_from_distances(distances, 0.0, linear) == [True] * 10
    plan = plan_from_distances(distances, 0.5, linear, warmup=2)
    # steps 0-1 warm up; then 0.3 (skip), 0.6 (run, reset), 0.3 (skip), 0.6 (run), ...
    assert plan == [True, True, False, True, False, True, False, True, False, True]
    assert plan_from_distances(distances, 10.0, linear)[:WARMUP_STEPS] == [True] * WARMUP_STEPS


def test_threshold_zero_is_exactly_no_cache() -> None:
    model = make_model()
    plain, _, runs = sample(model, None)
    cached, skipped, cached_runs = sample(model, 0.0)
    assert torch.equal(plain, cached) and skipped == 0 and cached_runs == runs == STEPS


def test_a_threshold_skips_steps_and_reports_them() -> None:
    model = make_model()
    plain, _, _ = sample(model, None)
    cached, skipped, runs = sample(model, 2.5)
    assert 0 < skipped <= STEPS - WARMUP_STEPS
    assert runs == STEPS - skipped  # the blocks really did not run on skipped steps
    assert not torch.equal(cached, plain)
    assert float((cached - plain).norm() / plain.norm()) < 0.5
    # Two-pass CFG keeps one residual per branch and skips the same steps.
    passes, skipped_passes, runs_passes = sample(model, 2.5, cfg_batch=False)
    assert skipped_passes == skipped and runs_passes == 2 * runs
    assert torch.allclose(passes, cached, atol=1e-4)
