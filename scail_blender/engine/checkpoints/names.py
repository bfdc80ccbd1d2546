"""SAT <-> wan-branch tensor names: the official SAT pickles name and fuse the same tensors
differently from the wan-branch safetensors; one rule table serves both directions."""

from __future__ import annotations

import re

import torch

SAT_PREFIX = "model.diffusion_model."

# SAT name -> wan-branch name(s). {i} block index, {j} index inside a Sequential, {p} weight|bias.
# Several targets mean the SAT tensor is those tensors stacked on dim 0, in this order.
SAT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mixins.adaln_layer.adaLN_modulations.{i}", ("blocks.{i}.modulation",)),
    ("mixins.adaln_layer.query_layernorm_list.{i}.{p}", ("blocks.{i}.self_attn.norm_q.{p}",)),
    ("mixins.adaln_layer.key_layernorm_list.{i}.{p}", ("blocks.{i}.self_attn.norm_k.{p}",)),
    ("mixins.adaln_layer.cross_query_layernorm_list.{i}.{p}", ("blocks.{i}.cross_attn.norm_q.{p}",)),
    ("mixins.adaln_layer.cross_key_layernorm_list.{i}.{p}", ("blocks.{i}.cross_attn.norm_k.{p}",)),
    ("mixins.adaln_layer.clip_feature_key_layernorm_list.{i}.{p}",
     ("blocks.{i}.cross_attn.norm_k_img.{p}",)),
    ("mixins.adaln_layer.clip_feature_key_value_list.{i}.{p}",
     ("blocks.{i}.cross_attn.k_img.{p}", "blocks.{i}.cross_attn.v_img.{p}")),
    ("mixins.final_layer.adaLN_modulation", ("head.modulation",)),
    ("mixins.final_layer.linear.{p}", ("head.head.{p}",)),
    ("mixins.patch_embed.proj.{p}", ("patch_embedding.{p}",)),
    ("mixins.patch_embed.proj_pose.{p}", ("patch_embedding_pose.{p}",)),
    ("mixins.patch_embed.proj_mask.{p}", ("patch_embedding_mask.{p}",)),
    ("transformer.layers.{i}.attention.query_key_value.{p}",
     ("blocks.{i}.self_attn.q.{p}", "blocks.{i}.self_attn.k.{p}", "blocks.{i}.self_attn.v.{p}")),
    ("transformer.layers.{i}.attention.dense.{p}", ("blocks.{i}.self_attn.o.{p}",)),
    ("transformer.layers.{i}.cross_attention.query.{p}", ("blocks.{i}.cross_attn.q.{p}",)),
    ("transformer.layers.{i}.cross_attention.key_value.{p}",
     ("blocks.{i}.cross_attn.k.{p}", "blocks.{i}.cross_attn.v.{p}")),
    ("transformer.layers.{i}.cross_attention.dense.{p}", ("blocks.{i}.cross_attn.o.{p}",)),
    ("transformer.layers.{i}.post_cross_attention_layernorm.{p}", ("blocks.{i}.norm3.{p}",)),
    ("transformer.layers.{i}.mlp.dense_h_to_4h.{p}", ("blocks.{i}.ffn.0.{p}",)),
    ("transformer.layers.{i}.mlp.dense_4h_to_h.{p}", ("blocks.{i}.ffn.2.{p}",)),
    ("time_embed.{j}.{p}", ("time_embedding.{j}.{p}",)),
    ("adaln_projection.{j}.{p}", ("time_projection.{j}.{p}",)),
    ("text_embedding.{j}.{p}", ("text_embedding.{j}.{p}",)),
    ("clip_proj.proj.{j}.{p}", ("img_emb.proj.{j}.{p}",)),
)


def _template_regex(template: str) -> re.Pattern:
    fields = {"{i}": r"(?P<i>\d+)", "{j}": r"(?P<j>\d+)", "{p}": r"(?P<p>weight|bias)"}
    pattern = re.escape(template)
    for field, group in fields.items():
        pattern = pattern.replace(re.escape(field), group)
    return re.compile(pattern + r"\Z")


_SAT_TO_WAN = [(_template_regex(sat), wan) for sat, wan in SAT_RULES]
_WAN_TO_SAT = [(_template_regex(wan[0]), sat, wan) for sat, wan in SAT_RULES]
_FUSED_PARTS = [_template_regex(part) for _, wan in SAT_RULES for part in wan[1:]]


def _sat_rule(name: str) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """The fields ({i}, {j}, {p}) and wan-branch targets of a SAT name, or None if no rule knows it."""
    if name.startswith(SAT_PREFIX):
        for regex, wan in _SAT_TO_WAN:
            match = regex.match(name[len(SAT_PREFIX):])
            if match:
                return match.groupdict(), wan
    return None


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
