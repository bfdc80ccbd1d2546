"""What each model family needs of a job, checked before its checkpoint loads.

The family comes from the checkpoint's tensors (SCAIL-Preview, SCAIL-2, MultiAnimate); the
contract's own ``validate`` holds the rules every job shares.
"""

from __future__ import annotations

from ..errors import InputError
from .contract import MAX_CHARACTERS, MODEL_NAMES, MODELS, Job


def check_model(job: Job, model: str) -> None:
    """The inputs and settings ``model`` needs (one of MODELS, read from the checkpoint's tensors),
    checked before the model loads: a wrong input fails in a second, not after minutes of loading."""
    if model not in MODELS:
        raise InputError(f"model {model!r} is unknown; use one of {', '.join(MODELS)}")
    i, s, name = job.inputs, job.settings, MODEL_NAMES[model]
    if s.variant is not None and s.variant != model:
        raise InputError(f"settings.variant is {s.variant} but the checkpoint is {name}; drop the variant "
                         "setting or use the matching checkpoint")
    multi_inputs = [n for n in ("character_masks", "reference_pose") if getattr(i, n)]
    if model != "multianimate" and multi_inputs:
        raise InputError(f"inputs.{', inputs.'.join(multi_inputs)}: MultiAnimate inputs, but the checkpoint is "
                         f"{name}; drop them or use a MultiAnimate checkpoint")
    if model == "scail2" and not (i.reference_mask and i.pose_mask):
        raise InputError("SCAIL-2 needs inputs.reference_mask and inputs.pose_mask (--ref-mask, --pose-mask): "
                         "each character in its identity colour; scail render-pose --mask-out writes the driving mask")
    if model != "multianimate":
        return
    masks = i.character_masks or []
    if not 1 <= len(masks) <= MAX_CHARACTERS or not all(masks):
        raise InputError(f"MultiAnimate needs inputs.character_masks: one mask video per character (1 to "
                         f"{MAX_CHARACTERS}), white inside; {len(masks)} given" + (", some empty" if masks else ""))
    if not i.reference_pose:
        raise InputError("MultiAnimate needs inputs.reference_pose: the skeleton render of the reference image")
    settings = [f"{n} {v}" for n, v, off in (("mode", s.mode, "animation"), ("cache", s.cache, None),
                                              ("loras", [spec.name for spec in s.loras], None)) if v != off and v]
    if settings:
        raise InputError(f"settings {', '.join(settings)}: not available with MultiAnimate (animation only, "
                         "no step cache, no extra LoRA)")
