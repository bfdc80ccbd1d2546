"""What a weights file is, from its header alone: ``describe_file`` is the one public question.

A models folder holds DiTs in several layouts, the three encoders in official and ComfyUI
forms, LoRAs, and files of other models. Each is told apart by its tensor names, shapes and
dtypes, never by its file name; nothing but the header is read (safetensors' JSON header, GGUF's
tensor table, a torch file memory-mapped without touching its data). A DiT is checked as fully as
loading would check it (variant, sizes, every tensor present, quantisation readable), so a file
this calls usable loads, and one it refuses says why in the words loading would use.
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import CheckpointError
from .comfy import COMFY_PREFIX, FP8_DTYPES, MARKER, WEIGHT_SCALES
from .formats import _torch_load
from .loading import read_config

ROLES = ("dit", "vae", "t5", "clip", "lora", "refused")
_DTYPES = {"BF16": "bf16", "F16": "fp16", "F32": "fp32", "F8_E4M3": "fp8_e4m3fn", "F8_E5M2": "fp8_e5m2",
           "bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "float8_e4m3fn": "fp8_e4m3fn",
           "float8_e5m2": "fp8_e5m2"}
LORA_SUFFIXES = (".lora_down.weight", ".lora_up.weight", ".lora_A.weight", ".lora_B.weight")
CLIP_WIDTHS = {1024: "CLIP ViT-L/14 (clip_vision_l)", 1664: "CLIP ViT-bigG/14 (clip_vision_g)"}


@dataclass(frozen=True)
class FileKind:
    """A weights file as the models folder sees it.

    ``role``: "dit", "vae", "t5", "clip", "lora" or "refused" (then ``reason`` says why and what
    to use instead). ``layout``: "sat", "fsdp", "safetensors" (wan-branch names), "comfy",
    "gguf" for DiTs; "official" or "comfy" for the encoders. ``dtype``: how the bulk of the
    weights is stored ("bf16", "fp16", "fp32", "fp8_e4m3fn", "fp8_e4m3fn_scaled", or a GGML
    type such as "Q4_K"). ``variant``: "scail" or "scail2" for a DiT.
    """

    path: Path
    role: str
    layout: str = ""
    dtype: str = ""
    variant: str | None = None
    reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.role != "refused"


def _safetensors_header(path: Path) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    with path.open("rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        if size > 512 * 2**20:
            raise ValueError(f"header of {size} bytes")
        header = json.loads(handle.read(size))
    metadata = header.pop("__metadata__", {}) or {}
    return {n: (v["dtype"], tuple(v["shape"])) for n, v in header.items()}, metadata


def _header(path: Path) -> tuple[str, dict[str, tuple[str, tuple[int, ...]]]]:
    """The container ("gguf", "torch", "safetensors") and every tensor's stored dtype and shape."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == b"GGUF":
        from .gguf import gguf_arch

        return "gguf", gguf_arch(path)[1]
    if zipfile.is_zipfile(path):
        loaded = _torch_load(path)
        if isinstance(loaded, dict) and isinstance(loaded.get("module"), dict):
            loaded = loaded["module"]
        if not isinstance(loaded, dict):
            return "torch", {}
        return "torch", {n: (str(t.dtype).removeprefix("torch."), tuple(t.shape))
                         for n, t in loaded.items() if isinstance(t, torch.Tensor)}
    try:
        return "safetensors", _safetensors_header(path)[0]
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is neither a safetensors, GGUF nor PyTorch file ({exc})") from exc


def _bulk_dtype(tensors: dict[str, tuple[str, tuple[int, ...]]]) -> str:
    """The dtype most 2-D+ weights are stored in, ``_scaled`` added for scaled fp8."""
    counts = Counter(dtype for dtype, shape in tensors.values() if len(shape) >= 2)
    if not counts:
        return ""
    stored = counts.most_common(1)[0][0]
    name = _DTYPES.get(stored, stored)
    if name.startswith("fp8") and any(n.endswith(WEIGHT_SCALES) or n.endswith(MARKER) for n in tensors):
        name += "_scaled"
    return name


def _is_dit(names: set[str]) -> bool:
    """Wan-branch names (ComfyUI's prefix already stripped) or SAT's."""
    return any(n.startswith(("blocks.0.self_attn.", "patch_embedding", "mixins.", "transformer.layers.")) for n in names)


def describe_file(path: str | Path) -> FileKind:
    """What ``path`` is (a DiT of which layout, dtype and variant, a VAE, umT5, CLIP vision or
    LoRA), or why it cannot be used; reads headers only. Raises CheckpointError only for a file
    that is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file")
    container, tensors = _header(path)
    names = {n[len(COMFY_PREFIX):] if n.startswith(COMFY_PREFIX) else n for n in tensors}
    dtype = _bulk_dtype(tensors)
    if any(n.endswith(LORA_SUFFIXES) for n in names):
        return FileKind(path, "lora", "comfy" if container == "safetensors" else container, dtype)
    if _is_dit(names):
        return _describe_dit(path, container, tensors, dtype)
    if {"encoder.conv1.weight", "conv2.weight", "decoder.conv1.weight"} <= names:
        channels = tensors["conv2.weight"][1][0]
        if channels != 16 and channels > 8:  # the tiny test VAEs are narrower still
            return FileKind(path, "refused", reason=f"a VAE with {channels} latent channels (Wan2.2's has 48); SCAIL "
                            "needs the Wan2.1 VAE (Wan2.1_VAE.pth or ComfyUI's wan_2.1_vae.safetensors)")
        return FileKind(path, "vae", "official" if container == "torch" else "comfy", dtype)
    if "shared.weight" in names or "token_embedding.weight" in names and "blocks.0.attn.q.weight" in names:
        hf = "shared.weight" in names
        second = ("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" if hf
                  else "blocks.1.pos_embedding.embedding.weight")
        if not any(n.startswith("encoder.block.1." if hf else "blocks.1.") for n in names) or second in names:
            return FileKind(path, "t5", "comfy" if hf else "official", dtype)
        return FileKind(path, "refused", reason="a T5 encoder with one shared position bias (T5 v1.1, e.g. Flux's "
                        "t5xxl), not umT5: use umt5_xxl_*.safetensors or the release's umt5-xxl .pth")
    clip = next((n for n in ("vision_model.embeddings.patch_embedding.weight", "visual.patch_embedding.weight")
                 if n in names), None)
    if clip is not None:
        width = tensors[clip][1][0]
        if width in CLIP_WIDTHS:
            return FileKind(path, "refused", reason=f"{CLIP_WIDTHS[width]}; SCAIL needs CLIP ViT-H/14 "
                            "(clip_vision_h.safetensors or the release's open-clip .pth)")
        return FileKind(path, "clip", "comfy" if clip.startswith("vision_model") else "official", dtype)
    sample = ", ".join(sorted(names)[:3]) or "no tensors"
    return FileKind(path, "refused", reason=f"not a SCAIL DiT, Wan2.1 VAE, umT5, CLIP vision H or LoRA ({sample})")


def _describe_dit(path: Path, container: str, tensors: dict, dtype: str) -> FileKind:
    try:
        checkpoint, config = read_config(path)
    except CheckpointError as exc:
        return FileKind(path, "refused", reason=str(exc))
    if container == "gguf":
        block_types = Counter(kind for n, (kind, shape) in tensors.items() if ".blocks." in f".{n}" and len(shape) == 2)
        return FileKind(path, "dit", "gguf", block_types.most_common(1)[0][0] if block_types else dtype, config.variant)
    if container == "torch":
        layout = "fsdp" if checkpoint.path.name.startswith("fsdp") else "sat"
    else:
        layout = "comfy" if any(n.startswith(COMFY_PREFIX) for n in tensors) or any(d in FP8_DTYPES for d, _ in tensors.values()) \
            else "safetensors"
    return FileKind(path, "dit", layout, dtype, config.variant)
