"""Tiny DiT files in ComfyUI's int8, mxfp8 and nvfp4 layer formats, written as comfy-kitchen's
quantisers and ComfyUI's state_dict write them (our own writer; the layouts are the ones
scail_blender/engine/models/blockquant.py documents, with their sources).

Per quantised layer: ``<layer>.weight`` in the format's storage dtype, ``<layer>.weight_scale``
(and nvfp4's ``weight_scale_2``, ``input_scale``), and a uint8 ``<layer>.comfy_quant`` JSON
tensor, or (``in_header``) every layer's JSON in the ``_quantization_metadata`` header instead.
Each writer also returns the float32 weight the stored bytes stand for, computed before any
packing or swizzling, so the loader's unpacking is checked against it exactly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file

PREFIX = "model.diffusion_model."
E2M1 = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def quantised_names(state: dict[str, torch.Tensor]) -> list[str]:
    """The linear weights a repack quantises here: every block's, and the head's (64 rows: its
    block scales need the 128-row padding of the swizzled layout)."""
    return [n for n, t in state.items() if t.ndim == 2 and n.endswith(".weight")
            and (n.startswith("blocks.") or n == "head.head.weight")]


def swizzle(plain: torch.Tensor) -> torch.Tensor:
    """cuBLAS's tiled block-scale layout, by its offset formula: tile (row // 128, col // 4) in row
    order, 512 entries each; row r, column c of a tile at 16 (r % 32) + 4 (r // 32) + c."""
    rows, cols = plain.shape
    padded_rows, padded_cols = math.ceil(rows / 128) * 128, math.ceil(cols / 4) * 4
    r = torch.arange(rows).reshape(-1, 1)
    c = torch.arange(cols).reshape(1, -1)
    offset = ((r // 128) * (padded_cols // 4) + c // 4) * 512 + (r % 32) * 16 + ((r % 128) // 32) * 4 + c % 4
    flat = torch.zeros(padded_rows * padded_cols, dtype=plain.dtype)
    flat[offset.flatten()] = plain.flatten()
    return flat.reshape(padded_rows, padded_cols)


def hadamard(size: int) -> torch.Tensor:
    """The normalised regular Hadamard matrix of ConvRot (a Kronecker power of the 4 x 4 one)."""
    h4 = torch.tensor([[1.0, 1, 1, -1], [1, 1, -1, 1], [1, -1, 1, 1], [-1, 1, 1, 1]])
    matrix = h4
    while matrix.shape[0] < size:
        matrix = torch.kron(matrix, h4)
    return matrix / math.sqrt(size)


def int8(weight: torch.Tensor, per_row: bool = False, convrot: int = 0) -> tuple[dict, dict, torch.Tensor]:
    """int8_tensorwise: q = round(w / scale), scale = absmax / 127 per tensor or per row; ConvRot
    rotates each row's groups by the Hadamard matrix first (w @ H^T)."""
    w = weight.float()
    if convrot:
        w = (w.reshape(w.shape[0], -1, convrot) @ hadamard(convrot).T).reshape(w.shape)
    amax = w.abs().amax(dim=1, keepdim=True) if per_row else w.abs().max()
    scale = (amax / 127.0).clamp(min=1e-30)
    q = (w / scale).round().clamp(-128, 127).to(torch.int8)
    meant = q.float() * scale
    if convrot:
        meant = (meant.reshape(w.shape[0], -1, convrot) @ hadamard(convrot)).reshape(w.shape)
    config = {"format": "int8_tensorwise", **({"convrot": True, "convrot_groupsize": convrot} if convrot else {})}
    return {"weight": q, "weight_scale": scale.float()}, config, meant


def mxfp8(weight: torch.Tensor) -> tuple[dict, dict, torch.Tensor]:
    """mxfp8: per 32 weights of a row an E8M0 exponent e = ceil(log2(amax / 448)) + 127 (0 for an
    all-zero block), q = e4m3(w / 2^(e - 127))."""
    rows, cols = weight.shape
    blocks = weight.float().reshape(rows, -1, 32)
    amax = blocks.abs().amax(dim=-1)
    exponent = (torch.ceil(torch.log2((amax / 448.0).clamp(min=2.0**-127))) + 127).clamp(0, 254)
    exponent = torch.where(amax == 0, 0, exponent).to(torch.int32)
    factor = torch.where(exponent == 0, 0.0, torch.exp2(exponent.float() - 127))
    q = (blocks / torch.where(factor == 0, 1.0, factor).unsqueeze(-1)).clamp(-448, 448).to(torch.float8_e4m3fn)
    meant = (q.float() * factor.unsqueeze(-1)).reshape(rows, cols)
    return {"weight": q.reshape(rows, cols), "weight_scale": swizzle(exponent.to(torch.uint8))}, {"format": "mxfp8"}, meant


def nvfp4(weight: torch.Tensor, smooth: torch.Tensor | None = None) -> tuple[dict, dict, torch.Tensor]:
    """nvfp4: tensor scale t = amax / (448 * 6); per 16 weights of a row a block scale
    b = e4m3(amax_block / 6 / t); codes = the nearest E2M1 value of w / (t * b), packed two per
    byte, even column high. With ``smooth`` (ModelOpt's pre_quant_scale s) w / s is quantised."""
    smooth = None if smooth is None else smooth.to(torch.bfloat16).float()  # stored in bf16, as ModelOpt's are
    w = weight.float() / (smooth if smooth is not None else 1.0)
    rows, cols = w.shape
    tensor_scale = w.abs().max() / (448.0 * 6.0)
    blocks = w.reshape(rows, -1, 16)
    block_scale = (blocks.abs().amax(dim=-1) / 6.0 / tensor_scale).clamp(max=448).to(torch.float8_e4m3fn)
    total = tensor_scale * block_scale.float()
    scaled = (blocks / torch.where(total == 0, 1.0, total).unsqueeze(-1)).clamp(-6, 6)
    index = torch.bucketize(scaled.abs(), (E2M1[1:] + E2M1[:-1]) / 2)  # the nearest value (ties: the smaller)
    codes = (index + 8 * (scaled < 0)).to(torch.uint8).reshape(rows, cols)
    meant = (torch.where(scaled < 0, -E2M1[index], E2M1[index]) * total.unsqueeze(-1)).reshape(rows, cols)
    if smooth is not None:
        meant = meant * smooth
    packed = (codes[:, 0::2] << 4) | codes[:, 1::2]
    tensors = {"weight": packed, "weight_scale": swizzle(block_scale), "weight_scale_2": tensor_scale.float(),
               "input_scale": torch.tensor(1.0)}
    if smooth is not None:
        tensors["pre_quant_scale"] = smooth.to(torch.bfloat16)
    return tensors, {"format": "nvfp4"}, meant


WRITERS = {"int8": int8, "int8_rows": lambda w: int8(w, per_row=True), "int8_convrot": lambda w: int8(w, True, 256),
           "mxfp8": mxfp8, "nvfp4": nvfp4}


def save_blockquant(state: dict[str, torch.Tensor], path: Path, kind: str, in_header: bool = False,
                    prefix: str = PREFIX, smooth: bool = False) -> tuple[Path, dict[str, torch.Tensor]]:
    """A ComfyUI repack with ``quantised_names`` in ``kind`` (a WRITERS key), the rest in bf16;
    returns the path and, per quantised wan-branch name, the float32 weight the file stands for."""
    out: dict[str, torch.Tensor] = {}
    meant: dict[str, torch.Tensor] = {}
    layers: dict[str, dict] = {}
    chosen = set(quantised_names(state))
    for name, tensor in state.items():
        if name not in chosen:
            out[prefix + name] = tensor.to(torch.bfloat16).contiguous()
            continue
        layer = prefix + name[: -len(".weight")]
        if smooth and kind == "nvfp4":
            gen = torch.Generator().manual_seed(len(layer))
            tensors, config, meant[name] = nvfp4(tensor, 0.5 + torch.rand(tensor.shape[1], generator=gen))
        else:
            tensors, config, meant[name] = WRITERS[kind](tensor)
        out.update({f"{layer}.{key}": value.contiguous() for key, value in tensors.items()})
        layers[layer] = config
        if not in_header:
            out[layer + ".comfy_quant"] = torch.tensor(list(json.dumps(config).encode()), dtype=torch.uint8)
    metadata = {"_quantization_metadata": json.dumps({"format_version": "1.0", "layers": layers})} if in_header else None
    save_file(out, str(path), metadata=metadata)
    return path, meant
