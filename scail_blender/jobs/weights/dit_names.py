"""The SCAIL DiT's tensor names, without torch: which names a complete file holds, and SAT's names.

``identify`` reads a file's header only, yet must tell a complete DiT from a truncated one (a
download cut short, a repack that dropped a layer) the way loading would; it cannot build the
model to ask it. So the model's state-dict names are written out here, and a test holds them equal
to the names of the real ``ScailDiT`` (engine/models/dit.py) for each variant. The SAT release
names the same tensors differently and fuses some of them; ``SAT_RULES`` is the one table of that
renaming, used here on names and by engine/checkpoints/names.py on tensors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SAT_PREFIX = "model.diffusion_model."
# Wan-family DiTs that are not SCAIL, by the tensor ComfyUI's model_detection.py tells them by
# (the finder and the engine's loader refuse them with this one table).
OTHER_WAN_MODELS = {
    "vace_patch_embedding.weight": "Wan2.1 VACE",
    "control_adapter.conv.weight": "Wan Fun camera-control",
    "casual_audio_encoder.encoder.final_linear.weight": "Wan2.2 S2V (speech-to-video)",
    "audio_proj.audio_proj_glob_1.layer.bias": "HuMo",
    "face_adapter.fuser_blocks.0.k_norm.weight": "Wan2.2 Animate",
    "patch_embedding_global.weight": "WanDancer",
}

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

# The wan-branch state dict of ScailDiT: names outside the blocks (per variant), and of each block.
_WEIGHT_BIAS = ("weight", "bias")
_TOP = tuple(f"{layer}.{p}" for layer in ("patch_embedding", "patch_embedding_pose", "text_embedding.0",
                                          "text_embedding.2", "img_emb.proj.0", "img_emb.proj.1", "img_emb.proj.3",
                                          "img_emb.proj.4", "time_embedding.0", "time_embedding.2",
                                          "time_projection.1", "head.head") for p in _WEIGHT_BIAS) + ("head.modulation",)
TOP_NAMES = {"scail": _TOP, "scail2": _TOP + ("patch_embedding_mask.weight", "patch_embedding_mask.bias")}
BLOCK_NAMES = ("modulation", "self_attn.norm_q.weight", "self_attn.norm_k.weight", "norm3.weight", "norm3.bias",
               "cross_attn.norm_q.weight", "cross_attn.norm_k.weight", "cross_attn.norm_k_img.weight") + tuple(
    f"{layer}.{p}" for layer in ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q",
                                 "cross_attn.k", "cross_attn.v", "cross_attn.o", "cross_attn.k_img",
                                 "cross_attn.v_img", "ffn.0", "ffn.2") for p in _WEIGHT_BIAS)


def template_regex(template: str) -> re.Pattern:
    """A SAT_RULES template as a regex whose groups are its fields."""
    fields = {"{i}": r"(?P<i>\d+)", "{j}": r"(?P<j>\d+)", "{p}": r"(?P<p>weight|bias)"}
    pattern = re.escape(template)
    for field, group in fields.items():
        pattern = pattern.replace(re.escape(field), group)
    return re.compile(pattern + r"\Z")


_SAT_TO_WAN = [(template_regex(sat), wan) for sat, wan in SAT_RULES]


def sat_rule(name: str) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """The fields and wan-branch target templates of a SAT name given without ``SAT_PREFIX``,
    or None if no rule knows it."""
    for regex, wan in _SAT_TO_WAN:
        match = regex.match(name)
        if match:
            return match.groupdict(), wan
    return None


def wan_names(names: Iterable[str]) -> set[str]:
    """The wan-branch names a file's DiT tensors stand for: SAT names (prefix already stripped)
    renamed and their fused tensors split, other names as they are."""
    out = set()
    for name in names:
        rule = sat_rule(name)
        if rule is None:
            out.add(name)
        else:
            fields, targets = rule
            out.update(target.format(**fields) for target in targets)
    return out


def is_wan_dit(names: set[str]) -> bool:
    """Whether wan-branch names are a Wan-family DiT's (SCAIL or another), whole or not."""
    return ("patch_embedding_pose.weight" in names or any(m in names for m in OTHER_WAN_MODELS)
            or ("patch_embedding.weight" in names and any(n.startswith("blocks.") for n in names)))


def scail_variant(names: set[str]) -> tuple[str, str]:
    """("scail" or "scail2", "") for a SCAIL DiT's wan-branch names; ("", what it is instead) for
    another Wan DiT, in words both the finder and the loader put after "this is ":
    "a Wan2.1 VACE model (with vace_patch_embedding.weight)", "a plain Wan2.1-I2V model (no pose
    patch embedding)"."""
    marker = next((m for m in OTHER_WAN_MODELS if m in names), None)
    if marker is not None:
        return "", f"a {OTHER_WAN_MODELS[marker]} model (with {marker})"
    if "patch_embedding_pose.weight" not in names:
        kind = "Wan2.1-I2V" if "img_emb.proj.0.weight" in names else "Wan2.1 text-to-video"
        return "", f"a plain {kind} model (no pose patch embedding)"
    return ("scail2" if "patch_embedding_mask.weight" in names else "scail"), ""


def dit_names(variant: str, num_layers: int) -> list[str]:
    """Every tensor name of a ``variant`` DiT with ``num_layers`` blocks, in wan-branch names."""
    return list(TOP_NAMES[variant]) + [f"blocks.{i}.{n}" for i in range(num_layers) for n in BLOCK_NAMES]


def missing_names(names: Iterable[str], variant: str) -> tuple[list[str], int]:
    """The names a ``variant`` DiT needs that ``names`` (wan-branch) lack, the block count read
    from the highest block index present; and how many names such a DiT has."""
    names = set(names)
    layers = max((int(m.group(1)) for n in names if (m := re.match(r"blocks\.(\d+)\.", n))), default=-1) + 1
    expected = dit_names(variant, layers)
    return [n for n in expected if n not in names], len(expected)
