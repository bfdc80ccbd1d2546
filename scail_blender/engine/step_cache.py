"""Step caching (TeaCache): skip the transformer blocks on steps where their input barely moves.

TeaCache (Liu et al., 2024, ali-vilab/TeaCache) watches the relative L1 change of the timestep
modulation between consecutive steps, maps it through a polynomial fitted per model to estimate
how much the blocks' output would change, and accumulates that estimate; while the sum stays
under a threshold the step reuses the residual the blocks added at the last computed step. Facts
carried over from the published Wan2.1 setting ("use_ret_steps"; the numbers appear in
ali-vilab/TeaCache's TeaCache4Wan2.1 and, identically, in modelscope/DiffSynth-Studio's Wan
pipeline and lightx2v's Wan TeaCache scheduler):

- the watched input is the time projection (``time6`` here, Wan's ``e0``), [B, 6, dim];
- the first 5 steps always run the blocks (they set the coarse layout); after them any step may
  be cached;
- Wan2.1-I2V-14B coefficients, highest power first: 480P below (SCAIL's 512x896 is closest to
  480P), 720P kept for larger sizes.

Because the watched input depends only on the timestep, the whole plan is known before the loop:
``plan_steps`` evaluates the time projection of every step in one batch and reads the distances
back once, so caching adds no host sync inside the loop. The polynomial was fitted on Wan2.1's
own weights; SCAIL's fine-tuned time projection is close but not identical, so the threshold's
effect on quality and speed is to be measured (bench/dit_step.py reports the steps skipped).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from .models.dit import BlockResidual, ScailDiT

log = logging.getLogger(__name__)

COEFFICIENTS = {
    "wan2.1-i2v-14b-480p": (2.57151496e05, -3.54229917e04, 1.40286849e03, -1.35890334e01, 1.32517977e-01),
    "wan2.1-i2v-14b-720p": (8.10705460e03, 2.13393892e03, -3.72934672e02, 1.66203073e01, -4.17769401e-02),
}
DEFAULT_COEFFICIENTS = "wan2.1-i2v-14b-480p"
WARMUP_STEPS = 5


def rescale(distance: float, coefficients: tuple[float, ...]) -> float:
    """The fitted polynomial at ``distance`` (Horner's rule, highest power first)."""
    value = 0.0
    for c in coefficients:
        value = value * distance + c
    return value


def relative_l1(inputs: torch.Tensor) -> torch.Tensor:
    """mean |x_i - x_{i-1}| / mean |x_{i-1}| between consecutive entries of inputs [S, ...]: [S - 1]."""
    flat = inputs.float().flatten(1)
    return (flat[1:] - flat[:-1]).abs().mean(dim=1) / flat[:-1].abs().mean(dim=1)


def plan_from_distances(distances: list[float], threshold: float, coefficients: tuple[float, ...],
                        warmup: int = WARMUP_STEPS) -> list[bool]:
    """Which of the len(distances) + 1 steps run the blocks (True) under TeaCache's rule.

    A threshold of 0 (or less) runs every step: caching off.
    """
    plan, accumulated = [True], 0.0
    for step, distance in enumerate(distances, start=1):
        if threshold <= 0 or step < warmup:
            plan.append(True)
            accumulated = 0.0
            continue
        accumulated += rescale(distance, coefficients)
        if accumulated < threshold:
            plan.append(False)
        else:
            plan.append(True)
            accumulated = 0.0
    return plan


@dataclass
class StepCache:
    """The plan for one denoising run and one BlockResidual per batch that runs each step."""

    plan: list[bool]
    residuals: dict[str, BlockResidual] = field(default_factory=dict)
    step: int = 0

    @property
    def skipped(self) -> int:
        return self.plan.count(False)

    def slot(self, branch: str) -> BlockResidual:
        """The residual of ``branch`` ("cfg", "cond", "uncond"), set up for the current step."""
        residual = self.residuals.setdefault(branch, BlockResidual())
        residual.reuse = not self.plan[self.step] and residual.value is not None
        return residual

    def advance(self) -> None:
        self.step += 1


def plan_steps(dit: ScailDiT, timesteps: torch.Tensor, threshold: float,
               coefficients: str | tuple[float, ...] = DEFAULT_COEFFICIENTS) -> StepCache:
    """The StepCache for a schedule: one batched time projection, one read-back, before the loop.

    ``coefficients`` names a published set or gives a polynomial (highest power first).
    """
    if isinstance(coefficients, tuple):
        poly = coefficients
    elif coefficients in COEFFICIENTS:
        poly = COEFFICIENTS[coefficients]
    else:
        raise ValueError(f"unknown TeaCache coefficients {coefficients!r}; choose one of "
                         f"{', '.join(COEFFICIENTS)}")
    if threshold <= 0 or len(timesteps) < 2:
        return StepCache([True] * len(timesteps))
    device = next(dit.time_projection.parameters()).device
    with torch.no_grad():
        _, time6 = dit.time_modulation(timesteps.to(device, torch.float32))
    plan = plan_from_distances(relative_l1(time6).tolist(), threshold, poly)
    log.info("step cache: threshold %g skips %d of %d steps", threshold, plan.count(False), len(plan))
    return StepCache(plan)
