"""Flow-matching samplers: Euler and UniPC multistep, for a network that predicts velocity.

Convention (Wan / SCAIL): x_sigma = (1 - sigma) * x0 + sigma * noise, the network gets
timestep = sigma * 1000 and returns v = noise - x0, so one Euler step is
x_next = x + (sigma_next - sigma) * v. Schedules are shifted towards the noisy end by
s' = shift * s / (1 + (shift - 1) * s), which large frames need.

Both samplers expose the same two things, ``timesteps`` (what the network is told) and
``step(i, velocity, x)``, so the denoising loop, the progress reports and cancellation are
written once (``denoise``) for either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from ..errors import Cancelled

NUM_TRAIN_TIMESTEPS = 1000


def shift_sigmas(sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    return shift * sigmas / (1 + (shift - 1) * sigmas)


class EulerSampler:
    """First-order steps on the shifted schedule 1 -> 0 (SCAIL's SAT sampler: 50 steps, shift 5)."""

    def __init__(self, steps: int, shift: float) -> None:
        base = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
        self.sigmas = shift_sigmas(base, shift)
        self.timesteps = self.sigmas[:-1] * NUM_TRAIN_TIMESTEPS

    def step(self, i: int, velocity: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        delta = float(self.sigmas[i + 1] - self.sigmas[i])
        return (x.double() + delta * velocity.double()).to(x.dtype)


class UniPCSampler:
    """UniPC multistep (bh2, data prediction, order 2 with a corrector), Wan's default solver.

    The schedule is Wan's: sigmas spaced evenly from 0.999 (its training schedule's largest) to 0
    before shifting, and the network is told the integer part of sigma * 1000. The math follows
    Zhao et al., "UniPC" (2023) in log-SNR time lambda = log((1 - sigma) / sigma): each step
    predicts with the last ``order`` data estimates and then, once the next estimate is known,
    corrects the sample it stepped from.
    """

    def __init__(self, steps: int, shift: float, order: int = 2) -> None:
        sigma_max = 1.0 - 1.0 / NUM_TRAIN_TIMESTEPS
        base = torch.linspace(sigma_max, 0.0, steps + 1, dtype=torch.float64)[:-1]
        shifted = shift_sigmas(base, shift).float().double()
        self.sigmas = torch.cat([shifted, torch.zeros(1, dtype=torch.float64)])
        self.timesteps = (shift_sigmas(base, shift) * NUM_TRAIN_TIMESTEPS).long().double()
        self.order = order
        self._x0: list[torch.Tensor] = []
        self._last_sample: torch.Tensor | None = None
        self._last_order = 1

    def _lambda(self, i: int) -> torch.Tensor:
        sigma = self.sigmas[i]
        return torch.log(1 - sigma) - torch.log(sigma)

    def _coefficients(self, t: int, s0: int, earlier: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                           torch.Tensor, torch.Tensor]:
        """rks, R, b, h_phi_1 and B(h) for a step from index s0 to t using estimates at ``earlier``."""
        h = self._lambda(t) - self._lambda(s0)
        rks = [(self._lambda(si) - self._lambda(s0)) / h for si in earlier] + [torch.ones((), dtype=torch.float64)]
        rks_t = torch.stack(rks)
        hh = -h
        h_phi_1 = torch.expm1(hh)
        b_h = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        factorial = 1
        rows, b = [], []
        for k in range(1, len(rks) + 1):
            rows.append(rks_t ** (k - 1))
            b.append(h_phi_k * factorial / b_h)
            factorial *= k + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        return rks_t, torch.stack(rows), torch.stack(b), h_phi_1, b_h

    def _update(self, x: torch.Tensor, t: int, s0: int, history: list[torch.Tensor], earlier: list[int],
                rhos: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], extra: torch.Tensor | None) -> torch.Tensor:
        sigma_t, sigma_s0 = self.sigmas[t], self.sigmas[s0]
        alpha_t = 1 - sigma_t
        rks, r_mat, b, h_phi_1, b_h = self._coefficients(t, s0, earlier)
        m0 = history[-1]
        out = (sigma_t / sigma_s0) * x - alpha_t * h_phi_1 * m0
        weights = rhos(r_mat, b)
        residual = torch.zeros_like(x)
        for k, si_model in enumerate(reversed(history[:-1])):
            residual = residual + weights[k] * (si_model - m0) / rks[k]
        if extra is not None:
            residual = residual + weights[-1] * (extra - m0)
        return out - alpha_t * b_h * residual

    def step(self, i: int, velocity: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.double()
        x0 = x - self.sigmas[i] * velocity.double()
        if i > 0 and self._last_sample is not None:
            order = self._last_order
            history = self._x0[-order:]
            x = self._update(self._last_sample, i, i - 1, history, [i - 1 - k for k in range(1, order)],
                             _corrector_rhos, x0)
        self._x0 = (self._x0 + [x0])[-self.order:]
        order = min(self.order, len(self.sigmas) - 1 - i, len(self._x0))
        self._last_order = order
        self._last_sample = x
        history = self._x0[-order:]
        out = self._update(x, i + 1, i, history, [i - k for k in range(1, order)], _predictor_rhos, None)
        return out.to(dtype)


def _predictor_rhos(r_mat: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n = r_mat.shape[0] - 1
    if n == 0:
        return torch.zeros(0, dtype=torch.float64)
    if n == 1:
        return torch.tensor([0.5], dtype=torch.float64)
    return torch.linalg.solve(r_mat[:-1, :-1], b[:-1])


def _corrector_rhos(r_mat: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if r_mat.shape[0] == 1:
        return torch.tensor([0.5], dtype=torch.float64)
    return torch.linalg.solve(r_mat, b)


Sampler = EulerSampler | UniPCSampler


# The registry of samplers by the names the job contract accepts (``jobs.SAMPLERS``).
SAMPLER_CLASSES: dict[str, type[EulerSampler] | type[UniPCSampler]] = {"unipc": UniPCSampler, "euler": EulerSampler}


def make_sampler(name: str, steps: int, shift: float) -> Sampler:
    try:
        return SAMPLER_CLASSES[name](steps, shift)
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLER_CLASSES)}") from None


def denoise(
    sampler: Sampler,
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    on_step: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """Integrate from noise ``x`` to data; ``velocity(x, timestep)`` is the (guided) network.

    Cancellation is checked between steps, never inside a forward pass, so a cancelled job
    stops within one step and leaves nothing half-updated. The timesteps go to x's device once,
    before the loop: a per-step host-to-device copy would wait for the GPU to finish the step.
    Nothing in the loop reads a device value back, so the host only ever queues work.
    """
    total = len(sampler.timesteps)
    for i, timestep in enumerate(sampler.timesteps.to(x.device)):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"cancelled at step {i} of {total}")
        v = velocity(x, timestep.reshape(1))
        x = sampler.step(i, v, x)
        if on_step is not None:
            on_step(i + 1, total)
    return x
