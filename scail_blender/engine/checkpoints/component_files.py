"""ComfyUI's component files (its ``models/`` folder) in the names of our VAE, umT5 and CLIP.

What ComfyUI users have on disk (facts from ComfyUI's ``comfy/ldm/wan/vae.py``,
``comfy/text_encoders/t5.py`` + ``wan.py`` and ``comfy/clip_model.py``):

- ``vae/wan_2.1_vae.safetensors``: the official Wan2.1 VAE state dict, same names as
  ``Wan2.1_VAE.pth`` (ComfyUI's WanVAE keeps Wan's module tree), in safetensors, fp16/bf16/fp32;
- ``text_encoders/umt5_xxl_{fp16,bf16,fp8_e4m3fn_scaled}.safetensors``: the encoder in Hugging
  Face T5 names (``shared``, ``encoder.block.N.layer.0.SelfAttention.q``, ``layer.1.DenseReluDense
  .wi_0``...), a relative position bias in every block (umT5); the scaled fp8 file stores the
  linears in e4m3fn with a per-tensor ``.scale_weight`` and a ``scaled_fp8`` marker, as ComfyUI's
  DiT files do;
- ``clip_vision/clip_vision_h.safetensors``: open-clip ViT-H/14's vision tower in Hugging Face
  CLIPVisionModelWithProjection names (``vision_model.encoder.layers.N.self_attn.q_proj``,
  ``pre_layrnorm``, ``visual_projection``).

Each is renamed to our modules (models/vae.py, t5.py, clip.py), q/k/v stacked where ours fuse
them; fp8 weights are dequantised (the encoders run once per job, so they are not kept in fp8).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ...errors import CheckpointError
from ...jobs.weights.identify import WEIGHT_SCALES
# Not weights of ours: markers, a tokenizer blob, T5's tied input embedding, HF's position ids.
SKIPPED = ("scaled_fp8", "spiece_model", "encoder.embed_tokens.weight", "logit_scale", "position_ids")
T5_RULES = (
    (r"shared\.weight", "token_embedding.weight"),
    (r"encoder\.final_layer_norm\.weight", "norm.weight"),
    (r"encoder\.block\.(\d+)\.layer\.0\.layer_norm\.weight", r"blocks.\1.norm1.weight"),
    (r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.([qkvo])\.weight", r"blocks.\1.attn.\2.weight"),
    (r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.relative_attention_bias\.weight",
     r"blocks.\1.pos_embedding.embedding.weight"),
    (r"encoder\.block\.(\d+)\.layer\.1\.layer_norm\.weight", r"blocks.\1.norm2.weight"),
    (r"encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_0\.weight", r"blocks.\1.ffn.gate.0.weight"),
    (r"encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_1\.weight", r"blocks.\1.ffn.fc1.weight"),
    (r"encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo\.weight", r"blocks.\1.ffn.fc2.weight"),
)
CLIP_RULES = (
    (r"vision_model\.embeddings\.patch_embedding\.weight", "patch_embedding.weight"),
    (r"vision_model\.pre_layrnorm\.(weight|bias)", r"pre_norm.\1"),
    (r"vision_model\.post_layernorm\.(weight|bias)", r"post_norm.\1"),
    (r"vision_model\.encoder\.layers\.(\d+)\.layer_norm1\.(weight|bias)", r"transformer.\1.norm1.\2"),
    (r"vision_model\.encoder\.layers\.(\d+)\.layer_norm2\.(weight|bias)", r"transformer.\1.norm2.\2"),
    (r"vision_model\.encoder\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)", r"transformer.\1.attn.proj.\2"),
    (r"vision_model\.encoder\.layers\.(\d+)\.mlp\.fc1\.(weight|bias)", r"transformer.\1.mlp.0.\2"),
    (r"vision_model\.encoder\.layers\.(\d+)\.mlp\.fc2\.(weight|bias)", r"transformer.\1.mlp.2.\2"),
)
CLIP_QKV = re.compile(r"vision_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)")
PREFIXES = ("first_stage_model.", "vae.", "text_encoders.umt5xxl.transformer.", "clip_vision.")


def read_safetensors(path: Path, what: str, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Every tensor of a component safetensors file, a shared prefix stripped, fp8 dequantised
    (to ``dtype``, one tensor at a time) and scales, markers and tokenizer blobs dropped."""
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            names = list(handle.keys())
            scales = {n[: -len(s)] + ".weight": n for n in names for s in WEIGHT_SCALES if n.endswith(s)}
            state = {}
            for name in names:
                if name.endswith(SKIPPED) or name in scales.values() or name.endswith((".scale_input", ".input_scale")):
                    continue
                tensor = handle.get_tensor(name)
                if tensor.element_size() == 1 and tensor.is_floating_point():
                    scale = handle.get_tensor(scales[name]).float() if name in scales else 1.0
                    tensor = (tensor.float() * scale).to(dtype)
                state[name] = tensor
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc}); download the {what} again") from exc
    prefix = next((p for p in PREFIXES if state and all(n.startswith(p) for n in state)), "")
    return {n[len(prefix):]: t for n, t in state.items()}


def _rename(state: dict[str, torch.Tensor], rules: tuple, path: Path, what: str) -> dict[str, torch.Tensor]:
    out, unknown = {}, []
    for name, tensor in state.items():
        for pattern, target in rules:
            if re.fullmatch(pattern, name):
                out[re.sub(pattern, target, name)] = tensor
                break
        else:
            unknown.append(name)
    if unknown:
        raise CheckpointError(f"{path} has tensors the {what} has not ({', '.join(unknown[:3])}); is it really the {what}?")
    return out


def t5_from_hf(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """umT5 in Hugging Face / ComfyUI names -> the official Wan names (models/t5.py)."""
    return _rename(state, T5_RULES, path, "umT5-xxl encoder")


def clip_from_hf(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """CLIP vision H in Hugging Face / ComfyUI names -> open-clip's visual names (models/clip.py)."""
    what = "open-clip ViT-H/14 vision tower"
    fused: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    rest = {}
    out = {}
    for name, tensor in state.items():
        match = CLIP_QKV.fullmatch(name)
        if match:
            layer, part, kind = match.groups()
            fused.setdefault((layer, kind), {})[part] = tensor
        elif name == "vision_model.embeddings.class_embedding":
            out["cls_embedding"] = tensor.reshape(1, 1, -1)
        elif name == "vision_model.embeddings.position_embedding.weight":
            out["pos_embedding"] = tensor.unsqueeze(0)
        elif name == "visual_projection.weight":
            out["head"] = tensor.t().contiguous()
        else:
            rest[name] = tensor
    for (layer, kind), parts in fused.items():
        if set(parts) != {"q", "k", "v"}:
            raise CheckpointError(f"{path}: layer {layer} lacks some of its q/k/v projections; download the {what} again")
        out[f"transformer.{layer}.attn.to_qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out | _rename(rest, CLIP_RULES, path, what)
