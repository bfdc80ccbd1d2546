"""Classifier-free guidance: the velocity the sampler follows, from one or two DiT passes.

The conditional and unconditional passes differ only in the text; reference, pose and CLIP
features are shared, so the two run as one forward of batch two unless the VRAM mode asks for
two passes of one (half the activation memory, the same numbers). The step cache, when on,
skips the blocks of a pass and advances once per guided step.
"""

from __future__ import annotations

import torch

from .models.dit import ScailDiT
from .step_cache import StepCache


def guided_forward(dit: ScailDiT, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                   clip_fea: torch.Tensor, ref: torch.Tensor, pose: torch.Tensor, cfg: float,
                   *, cfg_batch: bool = True, cache: StepCache | None = None, replace: bool = False,
                   **extra: torch.Tensor) -> torch.Tensor:
    """One guided velocity: uncond + cfg * (cond - uncond), cond = text row 0, uncond = text row 1.

    ``x``, ``t`` [1], ``ref``, ``pose``, ``clip_fea`` and ``extra`` (SCAIL-2 masks) are single
    samples shared by both passes; ``context`` holds the two texts (one row without guidance).
    ``cfg_batch`` runs both in one forward of batch 2 (faster), otherwise two forwards of batch 1
    (half the activation memory, the same numbers). ``cache`` advances by one step per call.
    """
    guided = cfg > 1.0

    def run(batch: int, text: torch.Tensor, branch: str) -> torch.Tensor:
        def grow(v):
            return v.expand(batch, *v.shape[1:])
        slot = cache.slot(branch) if cache is not None else None
        return dit(grow(x), grow(t), text, grow(clip_fea), grow(ref), grow(pose), replace=replace,
                   residual=slot, **{k: grow(v) for k, v in extra.items()}).float()

    with torch.no_grad():
        if not guided:
            out = run(1, context[:1], "cond")
        elif cfg_batch:
            both = run(2, context[:2], "cfg")
            out = both[1:] + cfg * (both[:1] - both[1:])
        else:
            cond, uncond = run(1, context[:1], "cond"), run(1, context[1:2], "uncond")
            out = uncond + cfg * (cond - uncond)
    if cache is not None:
        cache.advance()
    return out
