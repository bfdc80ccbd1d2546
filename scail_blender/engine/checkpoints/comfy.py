"""ComfyUI-style DiT safetensors: prefixed names and fp8 weights, told apart by names and dtypes.

What people have on disk besides the official downloads (facts from ComfyUI's
``comfy/model_detection.py`` and ``comfy/utils.py`` ``convert_old_quants``, kijai's
ComfyUI-WanVideoWrapper ``custom_linear.py`` and ``comfy_quant_linear.py``):

- repacks in wan-branch names, bare or under ComfyUI's checkpoint prefix ``model.diffusion_model.``,
  in fp16 / bf16 / fp32;
- ComfyUI's "scaled fp8" (old form): linear weights in float8_e4m3fn, a per-tensor float32
  ``<layer>.scale_weight`` beside each (true weight = fp8 * scale), an optional ``<layer>.scale_input``
  (activation scale, only used by fp8 matmuls), and one marker tensor ``scaled_fp8`` whose dtype
  names the fp8 type;
- ComfyUI's newer form of the same: ``<layer>.weight_scale`` / ``<layer>.input_scale`` and a uint8
  ``<layer>.comfy_quant`` tensor holding JSON such as ``{"format": "float8_e4m3fn"}`` (or the
  same per-layer JSON under ``_quantization_metadata`` in the header);
- kijai's plain fp8 files: e4m3fn weights and no scales at all (scale 1).

The e4m3fn linear weights of the blocks stay fp8 in the model (``packed``: an ``Fp8Linear`` per
layer, holding the fp8 weight and its per-tensor scale, models/fp8.py), so an fp8 file's DiT
takes about its file's size in memory; ``read`` dequantises any tensor (``weight.float() *
scale``) for ``scail convert`` and for the tensors that are not a block's linear (e5m2 weights
too). Quantisations this loader cannot dequantise (int8, mxfp8, nvfp4...) are refused by name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import torch
from torch import nn

from ...errors import CheckpointError
from ...jobs.weights.dit_names import SAT_PREFIX
from ...jobs.weights.identify import SCALED_FP8_MARKER as MARKER
from ...jobs.weights.identify import WEIGHT_SCALES
from ..models.fp8 import Fp8Linear

COMFY_PREFIX = SAT_PREFIX  # ComfyUI's checkpoint prefix is the one SAT (sgm) wrote
INPUT_SCALES = (".scale_input", ".input_scale")
QUANT_CONFIG = ".comfy_quant"
QUANT_METADATA = "_quantization_metadata"
FP8_DTYPES = {"F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}
READABLE_FORMATS = set(FP8_DTYPES.values())


def _prefix(names: list[str]) -> str:
    """ComfyUI's checkpoint prefix when every tensor carries it, else ''."""
    return COMFY_PREFIX if names and all(n.startswith(COMFY_PREFIX) for n in names) else ""


def _check_formats(configs: dict[str, str], metadata: dict[str, str]) -> None:
    """Refuse, by name, quantisation formats that cannot be dequantised here."""
    formats = set(configs.values())
    if QUANT_METADATA in metadata:
        try:
            layers = json.loads(metadata[QUANT_METADATA]).get("layers", {})
        except (json.JSONDecodeError, AttributeError) as exc:
            raise CheckpointError(f"the file's {QUANT_METADATA} header is not readable JSON ({exc}); "
                                  "download it again") from exc
        formats |= {v.get("format", "?") if isinstance(v, dict) else str(v) for v in layers.values()}
    unreadable = sorted(formats - READABLE_FORMATS)
    if unreadable:
        raise CheckpointError(f"this DiT file uses ComfyUI's {', '.join(unreadable)} quantisation, "
                              "which scail-blender does not read yet; use the fp16/bf16 or the "
                              "fp8 (e4m3fn, scaled or not) file of the same model")


def is_comfy_layout(shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str]) -> bool:
    """Whether a safetensors file needs this module: a ComfyUI prefix, fp8 weights or scales."""
    names = list(shapes)
    return (bool(_prefix(names)) or any(d in FP8_DTYPES for d in dtypes.values())
            or any(n.endswith(WEIGHT_SCALES + INPUT_SCALES + (QUANT_CONFIG,)) or n.endswith(MARKER)
                   for n in names))


def comfy_view(shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str], metadata: dict[str, str],
               get: Callable[[str], torch.Tensor]) -> tuple[dict[str, tuple[int, ...]], Callable[[str], torch.Tensor], dict]:
    """The file's weights in wan-branch names, a reader that dequantises fp8 on the way, and
    the blocks' e4m3fn linear weights as packed layers (``Checkpoint.packed``).

    ``shapes``/``dtypes`` are the file's (safetensors dtype names such as "F8_E4M3"), ``get``
    reads one stored tensor. Scale, marker and quantisation-config tensors are consumed here,
    so they never reach the checkpoint's names (nor ``verify``'s "unexpected" list).
    """
    prefix = _prefix(list(shapes))
    weights: dict[str, str] = {}  # wan-branch name -> stored name
    scales: dict[str, str] = {}  # stored weight name -> stored scale name
    configs: dict[str, str] = {}
    for name in shapes:
        if name == prefix + MARKER or name.endswith(INPUT_SCALES):
            continue
        layer = next((name[: -len(s)] for s in WEIGHT_SCALES if name.endswith(s)), None)
        if layer is not None:
            scales[layer + ".weight"] = name
        elif name.endswith(QUANT_CONFIG):
            configs[name] = _quant_format(get(name), name)
        else:
            weights[name[len(prefix):] if name.startswith(prefix) else name] = name
    _check_formats(configs, metadata)
    orphans = sorted(set(scales) - set(weights.values()))
    if orphans:
        raise CheckpointError(f"the file has a weight scale without its weight ({orphans[0]}); it is "
                              "incomplete or damaged: download it again")
    for scale in scales.values():
        if math.prod(shapes[scale]) != 1:  # per-tensor scales only; block scales are other formats
            raise CheckpointError(f"{scale} has shape {list(shapes[scale])}, not one per-tensor "
                                  "scale: a quantisation scail-blender does not read yet; use the "
                                  "fp16/bf16 or the fp8 (e4m3fn) file of the same model")

    def read(name: str) -> torch.Tensor:
        stored = weights[name]
        tensor = get(stored)
        if dtypes[stored] in FP8_DTYPES or stored in scales:
            tensor = tensor.float()
        if stored in scales:
            tensor = tensor * get(scales[stored]).float()
        return tensor

    def packer(stored: str) -> Callable[[torch.Tensor | None, torch.dtype, torch.device], nn.Module]:
        def make(bias: torch.Tensor | None, dtype: torch.dtype, device: torch.device) -> nn.Module:
            scale = get(scales[stored]).float().reshape(1) if stored in scales else torch.ones(1)
            weight = get(stored).to(device)
            return Fp8Linear(weight, scale.expand(weight.shape[0], 1).contiguous().to(device), bias, dtype)

        return make

    packed = {wan: packer(stored) for wan, stored in weights.items()
              if dtypes[stored] == "F8_E4M3" and wan.startswith("blocks.") and wan.endswith(".weight")
              and len(shapes[stored]) == 2}
    return {wan: shapes[stored] for wan, stored in weights.items()}, read, packed


def _quant_format(config: torch.Tensor, name: str) -> str:
    try:
        value = json.loads(bytes(config.to(torch.uint8).tolist()).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{name} is not ComfyUI quantisation JSON ({exc}); the file is "
                              "damaged: download it again") from exc
    return value.get("format", "?") if isinstance(value, dict) else str(value)
