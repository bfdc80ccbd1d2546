"""SAT <-> wan-branch tensor names: the official SAT pickles name and fuse the same tensors
differently from the wan-branch safetensors; one rule table (jobs/weights/dit_names.py, torch-free
so the models-folder finder reads SAT names too) serves both directions."""

from __future__ import annotations

import torch

from ...jobs.weights.dit_names import SAT_PREFIX, SAT_RULES, sat_rule, template_regex

_WAN_TO_SAT = [(template_regex(wan[0]), sat, wan) for sat, wan in SAT_RULES]
_FUSED_PARTS = [template_regex(part) for _, wan in SAT_RULES for part in wan[1:]]


def _sat_rule(name: str) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """The fields ({i}, {j}, {p}) and wan-branch targets of a SAT name, or None if no rule knows it."""
    return sat_rule(name[len(SAT_PREFIX):]) if name.startswith(SAT_PREFIX) else None


def sat_to_wan(sat: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename SAT tensors to wan-branch names, splitting fused projections (views, no copies).

    Returns the renamed tensors and the SAT names that map to nothing.
    """
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for name, tensor in sat.items():
        rule = _sat_rule(name)
        if rule is None or tensor.shape[0] % len(rule[1]):
            unknown.append(name)
            continue
        fields, targets = rule
        for target, part in zip(targets, tensor.chunk(len(targets), dim=0)):
            out[target.format(**fields)] = part
    return out, unknown


def wan_to_sat(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of sat_to_wan: SAT names, fused projections stacked back together."""
    out: dict[str, torch.Tensor] = {}
    for name in state:
        for regex, sat, wan in _WAN_TO_SAT:
            match = regex.match(name)
            if match:
                fields = match.groupdict()
                parts = [state[t.format(**fields)] for t in wan]
                out[SAT_PREFIX + sat.format(**fields)] = torch.cat(parts) if len(parts) > 1 else parts[0]
                break
        else:
            if not any(regex.match(name) for regex in _FUSED_PARTS):
                raise ValueError(f"no SAT name for {name}")
    return out
