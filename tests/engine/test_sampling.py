"""Samplers against a flow whose exact solution is known.

Data x0 ~ N(mu, sd^2) per element and noise ~ N(0, 1) give x_s = (1 - s) x0 + s noise with
marginal N((1 - s) mu, std(s)^2), std(s)^2 = (1 - s)^2 sd^2 + s^2. The probability-flow ODE moves
every sample along x_s = (1 - s) mu + std(s) z, so starting from x_1 = z it must end at
mu + sd z; the velocity field below is d x_s / ds written in terms of x.
"""

from __future__ import annotations

import threading

import pytest
import torch

from scail_blender.engine.sampling import EulerSampler, UniPCSampler, denoise, make_sampler, shift_sigmas
from scail_blender.errors import Cancelled

MU, SD = 0.7, 0.3


def gaussian_velocity(x: torch.Tensor, s: float) -> torch.Tensor:
    s = torch.tensor(s, dtype=torch.float64)
    std = torch.sqrt((1 - s) ** 2 * SD**2 + s**2)
    dstd = (-(1 - s) * SD**2 + s) / std
    z = (x.double() - (1 - s) * MU) / std
    return (-MU + dstd * z).to(x.dtype)


def solve(sampler, z: torch.Tensor) -> torch.Tensor:
    # The UniPC schedule starts at 0.999, so its start sample is taken on the exact path there.
    s0 = float(sampler.sigmas[0])
    x = (1 - s0) * MU + ((1 - s0) ** 2 * SD**2 + s0**2) ** 0.5 * z
    calls: list[torch.Tensor] = []

    def velocity(x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        # The network would be told ``timestep`` (UniPC rounds it down to an integer, as Wan does);
        # the analytic field is evaluated at the sigma the sampler stands on.
        assert float(timestep) == float(sampler.timesteps[len(calls)])
        calls.append(timestep)
        return gaussian_velocity(x, float(sampler.sigmas[len(calls) - 1]))

    return denoise(sampler, velocity, x)


@pytest.fixture
def z() -> torch.Tensor:
    return torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def error(x: torch.Tensor, z: torch.Tensor) -> float:
    return float((x - (MU + SD * z)).abs().max())


def test_point_target_is_reached_exactly_by_both(z: torch.Tensor) -> None:
    global SD
    saved, SD = SD, 0.0
    try:
        for sampler in (EulerSampler(5, 3.0), UniPCSampler(5, 3.0)):
            assert error(solve(sampler, z), z) < 1e-9
    finally:
        SD = saved


def test_euler_converges_first_order(z: torch.Tensor) -> None:
    errors = [error(solve(EulerSampler(n, 1.0), z), z) for n in (20, 40, 80)]
    assert 1.7 < errors[0] / errors[1] < 2.3 and 1.7 < errors[1] / errors[2] < 2.3


def test_unipc_is_second_order_and_beats_euler(z: torch.Tensor) -> None:
    errors = [error(solve(UniPCSampler(n, 1.0), z), z) for n in (40, 160)]
    assert errors[1] < errors[0] / 8  # 4x the steps: 16x for second order, 4x for first
    # Wan's setting (40 steps, shift 3): UniPC is far closer than Euler with the same forwards.
    assert error(solve(UniPCSampler(40, 3.0), z), z) < error(solve(EulerSampler(40, 3.0), z), z) / 5


def test_schedules_follow_the_shift_formula() -> None:
    euler = EulerSampler(4, 5.0)
    base = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0], dtype=torch.float64)
    assert torch.allclose(euler.sigmas, 5 * base / (1 + 4 * base))
    assert torch.allclose(euler.timesteps, euler.sigmas[:-1] * 1000)
    unipc = UniPCSampler(40, 3.0)
    assert unipc.timesteps[0] == 999 and len(unipc.timesteps) == 40
    assert unipc.sigmas[-1] == 0 and bool((unipc.sigmas[:-1] > 0).all())
    assert torch.equal(unipc.timesteps, torch.floor(shift_sigmas(torch.linspace(0.999, 0, 41, dtype=torch.float64)[:-1], 3.0) * 1000))


def test_progress_and_cancel_between_steps(z: torch.Tensor) -> None:
    seen: list[tuple[int, int]] = []
    cancel = threading.Event()

    def on_step(step: int, total: int) -> None:
        seen.append((step, total))
        if step == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        denoise(make_sampler("unipc", 10, 3.0), lambda x, t: gaussian_velocity(x, float(t) / 1000), z.clone(),
                on_step=on_step, cancel=cancel)
    assert seen == [(1, 10), (2, 10), (3, 10)]
