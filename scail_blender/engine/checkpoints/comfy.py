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
- kijai's plain fp8 files: e4m3fn weights and no scales at all (scale 1);
- ComfyUI's block formats (the same ``comfy_quant`` JSON / ``_quantization_metadata``, where the
  header's per-layer entries take precedence as ComfyUI's ``convert_old_quants`` makes them):
  ``int8_tensorwise`` (optionally ConvRot-rotated), ``mxfp8`` and ``nvfp4``, with
  ``weight_scale``, nvfp4's ``weight_scale_2`` and ``pre_quant_scale``; their layouts and
  dequantisation are in models/blockquant.py, with where each fact comes from.

The e4m3fn linear weights of the blocks stay fp8 in the model (``packed``: an ``Fp8Linear`` per
layer, holding the fp8 weight and its per-tensor scale, models/fp8.py), so an fp8 file's DiT
takes about its file's size in memory; ``read`` dequantises any tensor (``weight.float() *
scale``) for ``scail convert`` and for the tensors that are not a block's linear (e5m2 weights
too). The blocks' int8 / mxfp8 / nvfp4 linears stay in their stored bytes as well
(``BlockQuantLinear``, dequantised per call); ``read`` dequantises them too. Other formats
(convrot_w4a4, asym_w4a8_int8, awq_w4a16...) are refused by name, and a layer whose scales are
missing or mis-shaped is refused as damaged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import torch
from torch import nn

from ...errors import CheckpointError
from ...jobs.weights.dit_names import SAT_PREFIX
from ...jobs.weights.identify import COMFY_QUANT_FORMATS, QUANT_CONFIG, QUANT_METADATA, WEIGHT_SCALES
from ...jobs.weights.identify import SCALED_FP8_MARKER as MARKER
from ..models import blockquant
from ..models.blockquant import BlockQuantLinear
from ..models.fp8 import Fp8Linear

COMFY_PREFIX = SAT_PREFIX  # ComfyUI's checkpoint prefix is the one SAT (sgm) wrote
INPUT_SCALES = (".scale_input", ".input_scale")
EXTRA_SCALES = (".weight_scale_2", ".pre_quant_scale")  # nvfp4's per-tensor scale and input smoothing
FP8_DTYPES = {"F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}
# Stored dtypes of a block format's weight and block scale (safetensors names; scales may be raw bytes).
BLOCK_DTYPES = {"int8_tensorwise": ("I8", None), "mxfp8": ("F8_E4M3", {"U8", "F8_E8M0"}),
                "nvfp4": ("U8", {"U8", "F8_E4M3"})}
AGAIN = "the file is incomplete or damaged: download it again"
Maker = Callable[[torch.Tensor | None, torch.dtype, torch.device], nn.Module]


def _prefix(names: list[str]) -> str:
    """ComfyUI's checkpoint prefix when every tensor carries it, else ''."""
    return COMFY_PREFIX if names and all(n.startswith(COMFY_PREFIX) for n in names) else ""


def _configs(tensors: list[str], metadata: dict[str, str], get: Callable[[str], torch.Tensor]) -> dict[str, dict]:
    """Each quantised layer's JSON config (stored layer name -> dict); the header's entries win."""
    configs = {name[: -len(QUANT_CONFIG)]: _json(get(name), name) for name in tensors}
    if QUANT_METADATA in metadata:
        try:
            layers = json.loads(metadata[QUANT_METADATA])["layers"]
            configs.update({layer: dict(value) for layer, value in layers.items()})
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"the file's {QUANT_METADATA} header is not ComfyUI's per-layer JSON ({exc}); "
                                  "download it again") from exc
    unreadable = sorted({str(c.get("format", "?")) for c in configs.values()} - set(COMFY_QUANT_FORMATS))
    if unreadable:
        raise CheckpointError(f"this DiT file uses ComfyUI's {', '.join(unreadable)} quantisation, which "
                              "scail-blender does not read yet; use the fp16/bf16, fp8, int8, mxfp8 or nvfp4 "
                              "file of the same model")
    return configs


def is_comfy_layout(shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str]) -> bool:
    """Whether a safetensors file needs this module: a ComfyUI prefix, fp8 weights or scales."""
    names = list(shapes)
    return (bool(_prefix(names)) or any(d in FP8_DTYPES for d in dtypes.values())
            or any(n.endswith(WEIGHT_SCALES + INPUT_SCALES + EXTRA_SCALES + (QUANT_CONFIG,)) or n.endswith(MARKER)
                   for n in names))


def comfy_view(shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str], metadata: dict[str, str],
               get: Callable[[str], torch.Tensor]) -> tuple[dict[str, tuple[int, ...]], Callable[[str], torch.Tensor],
                                                           dict[str, Maker], str]:
    """The file's weights in wan-branch names, a reader that dequantises on the way, the blocks'
    quantised linear weights as packed layers (``Checkpoint.packed``) and how they are stored.

    ``shapes``/``dtypes`` are the file's (safetensors dtype names such as "F8_E4M3"), ``get``
    reads one stored tensor. Scale, marker and quantisation-config tensors are consumed here,
    so they never reach the checkpoint's names (nor ``verify``'s "unexpected" list).
    """
    prefix = _prefix(list(shapes))
    weights: dict[str, str] = {}  # wan-branch name -> stored name
    scales: dict[str, str] = {}  # stored weight name -> stored scale name
    for name in shapes:
        if name == prefix + MARKER or name.endswith(INPUT_SCALES + EXTRA_SCALES + (QUANT_CONFIG,)):
            continue
        layer = next((name[: -len(s)] for s in WEIGHT_SCALES if name.endswith(s)), None)
        if layer is not None:
            scales[layer + ".weight"] = name
        else:
            weights[name[len(prefix):] if name.startswith(prefix) else name] = name
    configs = _configs([n for n in shapes if n.endswith(QUANT_CONFIG)], metadata, get)
    blocks = {layer + ".weight": c for layer, c in configs.items() if c.get("format") in blockquant.FORMATS}
    orphans = sorted((set(scales) | set(blocks)) - set(weights.values()))
    if orphans:
        raise CheckpointError(f"the file has a weight scale or quantisation config without its weight ({orphans[0]}); "
                              f"{AGAIN}")
    layers = {stored: _block_layer(stored, config, shapes, dtypes) for stored, config in blocks.items()}
    for weight, scale in scales.items():
        if weight not in layers and math.prod(shapes[scale]) != 1:
            raise CheckpointError(f"{scale} has shape {list(shapes[scale])}, not one per-tensor scale: a "
                                  "quantisation scail-blender does not read yet; use the fp16/bf16 or the fp8 "
                                  "(e4m3fn) file of the same model")

    def block(stored: str, bias: torch.Tensor | None, dtype: torch.dtype, device: torch.device) -> BlockQuantLinear:
        fmt, group, shape = layers[stored]
        stem = stored[: -len(".weight")]
        extra = {s: get(stem + s).to(device) if stem + s in shapes else None for s in EXTRA_SCALES}
        return BlockQuantLinear(fmt, get(stored).to(device), get(stem + ".weight_scale").to(device), extra[".weight_scale_2"],
                                extra[".pre_quant_scale"], group, shape, bias, dtype)

    def read(name: str) -> torch.Tensor:
        stored = weights[name]
        if stored in layers:
            return block(stored, None, torch.float32, torch.device("cpu")).dequantised()
        tensor = get(stored)
        if dtypes[stored] in FP8_DTYPES or stored in scales:
            tensor = tensor.float()
        if stored in scales:
            tensor = tensor * get(scales[stored]).float()
        return tensor

    def packer(stored: str) -> Maker:
        def make(bias: torch.Tensor | None, dtype: torch.dtype, device: torch.device) -> nn.Module:
            if stored in layers:
                return block(stored, bias, dtype, device)
            scale = get(scales[stored]).float().reshape(1) if stored in scales else torch.ones(1)
            weight = get(stored).to(device)
            return Fp8Linear(weight, scale.expand(weight.shape[0], 1).contiguous().to(device), bias, dtype)

        return make

    packed = {wan: packer(stored) for wan, stored in weights.items()
              if (dtypes[stored] == "F8_E4M3" or stored in layers) and wan.startswith("blocks.")
              and wan.endswith(".weight") and len(shapes[stored]) == 2}
    kinds = sorted({layers[weights[w]][0] if weights[w] in layers else "fp8" for w in packed})
    shown = {wan: layers[stored][2] if stored in layers else shapes[stored] for wan, stored in weights.items()}
    return shown, read, packed, "+".join(kinds) or "float"


def _block_layer(stored: str, config: dict, shapes: dict[str, tuple[int, ...]],
                 dtypes: dict[str, str]) -> tuple[str, int, tuple[int, int]]:
    """Check one int8/mxfp8/nvfp4 layer's tensors against its format: (format, ConvRot group or
    0, the weight's shape); CheckpointError naming what is missing or mis-shaped."""
    fmt, stem = config["format"], stored[: -len(".weight")]
    weight_dtype, scale_dtypes = BLOCK_DTYPES[fmt]
    if dtypes[stored] != weight_dtype or len(shapes[stored]) != 2:
        raise CheckpointError(f"{stored} is marked {fmt} but stored as {dtypes[stored]} {list(shapes[stored])} (expected "
                              f"a 2-D {weight_dtype} tensor); {AGAIN}")
    shape = blockquant.logical_shape(fmt, shapes[stored])
    for suffix, grid in blockquant.expected_scales(fmt, shapes[stored]).items():
        name = f"{stem}.{suffix}"
        if name not in shapes:
            raise CheckpointError(f"{stem} is stored as {fmt} but has no {suffix}; {AGAIN}")
        size = math.prod(shapes[name])
        allowed = {math.prod(grid)} if grid else {1, shape[0]}
        if size not in allowed or (grid and suffix == "weight_scale" and dtypes[name] not in scale_dtypes):
            expected = f"{list(grid)} {'/'.join(sorted(scale_dtypes))}" if grid else f"one value or {shape[0]} (one per row)"
            raise CheckpointError(f"{name} has {dtypes[name]} {list(shapes[name])}, not the {fmt} scales of a "
                                  f"{list(shape)} weight ({expected}); {AGAIN}")
    if (stem + ".pre_quant_scale") in shapes and math.prod(shapes[stem + ".pre_quant_scale"]) != shape[1]:
        raise CheckpointError(f"{stem}.pre_quant_scale has {list(shapes[stem + '.pre_quant_scale'])} values, not one per "
                              f"input ({shape[1]}); {AGAIN}")
    params = config.get("params") if isinstance(config.get("params"), dict) else {}
    group = 0
    if fmt == "int8_tensorwise" and config.get("convrot", params.get("convrot", False)):
        group = int(config.get("convrot_groupsize", params.get("convrot_groupsize", blockquant.DEFAULT_GROUP)))
        if group < 4 or 4 ** round(math.log(group, 4)) != group or shape[1] % group:
            raise CheckpointError(f"{stem}: ConvRot group size {group} is not a power of 4 dividing its {shape[1]} "
                                  f"inputs; {AGAIN}")
    return fmt, group, shape


def _json(config: torch.Tensor, name: str) -> dict:
    try:
        value = json.loads(bytes(config.to(torch.uint8).tolist()).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{name} is not ComfyUI quantisation JSON ({exc}); the file is "
                              "damaged: download it again") from exc
    return value if isinstance(value, dict) else {"format": str(value)}
