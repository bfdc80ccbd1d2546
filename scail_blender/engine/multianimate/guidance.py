"""MultiAnimate's guided sampler: flow-match Euler, shift 5, CFG 1.5, 50 steps (the official defaults).

Guidance is joint text + pose: the conditional pass gets the prompt and the pose/identity tokens,
the unconditional pass the negative prompt and no tokens at all (the model was trained with 5 %
pose dropout for this); both get the same CLIP tokens and I2V conditioning ``y`` (reference-pose
features included). The two passes run as one batch of two where the unconditional row's tokens
are zeros: adding zeros changes nothing, so the numbers are those of two separate passes.

The network is told the timestep rounded to the DiT's dtype, as the official pipeline does (it
casts the timestep to bf16 before the sinusoidal embedding); with float32 weights that is the
timestep itself. The latent itself stays float32 between steps (the official one is bf16).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from ..models.wan_i2v import WanI2VDiT
from ..sampling import EulerSampler, denoise

STEPS = 50
SHIFT = 5.0
CFG = 1.5
HEIGHT, WIDTH, FRAMES = 480, 832, 81
# The official script's negative prompt: Wan's default, shortened.
NEGATIVE_PROMPT = ("细节模糊不清，字幕，作品，画作，画面，静止，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，"
                   "画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，杂乱的背景，三条腿，背景人很多，倒着走")


def network_timestep(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The float32 timestep the network sees: ``t`` rounded to ``dtype``, the DiT weights' dtype."""
    return t.to(dtype).float()


def guided_velocity(dit: WanI2VDiT, context: torch.Tensor, clip_fea: torch.Tensor, y: torch.Tensor,
                    condition: torch.Tensor, cfg: float = CFG, *, cfg_batch: bool = True
                    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """velocity(x, t) = uncond + cfg * (cond - uncond) for ``denoise``.

    context [2, L, text_dim]: the prompt's then the negative prompt's umT5 embeddings (one row
    is enough when cfg is 1); clip_fea [1, 257, clip_dim]; y [1, 20, T, h, w]; condition
    [1, f*h*w, dim]. ``cfg_batch`` False runs two passes of one (half the activation memory).
    """
    dtype = dit.patch_embedding.weight.dtype

    def run(x: torch.Tensor, t: torch.Tensor, rows: slice, tokens: torch.Tensor) -> torch.Tensor:
        batch = tokens.shape[0]

        def grow(v: torch.Tensor) -> torch.Tensor:
            return v.expand(batch, *v.shape[1:])
        return dit(grow(x), grow(network_timestep(t, dtype)), context[rows], grow(clip_fea), grow(y), tokens).float()

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if cfg == 1.0:
                return run(x, t, slice(0, 1), condition)
            if cfg_batch:
                both = run(x, t, slice(0, 2), torch.cat([condition, torch.zeros_like(condition)]))
                cond, uncond = both[:1], both[1:]
            else:
                cond = run(x, t, slice(0, 1), condition)
                uncond = dit(x, network_timestep(t, dtype), context[1:2], clip_fea, y, None).float()
            return uncond + cfg * (cond - uncond)

    return velocity


def sample(dit: WanI2VDiT, noise: torch.Tensor, context: torch.Tensor, clip_fea: torch.Tensor, y: torch.Tensor,
           condition: torch.Tensor, *, steps: int = STEPS, shift: float = SHIFT, cfg: float = CFG,
           cfg_batch: bool = True, on_step: Callable[[int, int], None] | None = None,
           cancel: threading.Event | None = None) -> torch.Tensor:
    """Denoise ``noise`` [1, 16, T, h, w] to a latent with Euler steps on the shifted schedule."""
    velocity = guided_velocity(dit, context, clip_fea, y, condition, cfg, cfg_batch=cfg_batch)
    return denoise(EulerSampler(steps, shift), velocity, noise.float(), on_step=on_step, cancel=cancel)
