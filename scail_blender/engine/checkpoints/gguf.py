"""GGUF DiT files (the SCAIL-Preview quantisations), read as ComfyUI-GGUF writes Wan GGUFs.

Facts from city96's ComfyUI-GGUF (``tools/convert.py``, ``tools/fix_5d_tensors.py``,
``tools/lcpp.patch``, ``loader.py``), which is how these files are made:

- ``general.architecture`` is ``"wan"``; tensors carry the wan-branch names (a ComfyUI
  ``model.diffusion_model.`` prefix is stripped on conversion; the loader strips it too);
- shapes are stored in GGML order (reversed); ``comfy.gguf.orig_shape.<name>`` metadata gives the
  original shape where a tensor was reshaped;
- 1-D tensors, tensors of at most 1024 values and ``.modulation`` stay F32; the quantiser leaves
  ``modulation``, ``patch_embedding``, ``text_embedding``, ``time_embedding``, ``time_projection``,
  ``img_emb`` and ``head`` in the F16/BF16 of the conversion, and quantises the blocks' linears
  (Q8_0, Q4_K, Q5_K...);
- the 5-D patch embeddings (GGML handles 4 dims) are added back afterwards as F32.

Quantised linear weights of the blocks stay packed (``Checkpoint.packed``): the model holds the
file's bytes and dequantises each layer at call time (models/ggml.py). Every other tensor, and
any quantised tensor that is not a block's linear, is dequantised once on load.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import CheckpointError
from ..models.ggml import GgmlLinear, dequantise, native
from .comfy import COMFY_PREFIX

ARCH_KEY = "general.architecture"
ORIG_SHAPE = "comfy.gguf.orig_shape."
WAN_ARCH = "wan"
TEXT_ARCHES = {"t5", "t5encoder"}


def _string(reader, key: str) -> str | None:
    field = reader.get_field(key)
    if field is None:
        return None
    return str(bytes(field.parts[field.data[-1]]), encoding="utf-8")


def _shape(reader, tensor) -> tuple[int, ...]:
    field = reader.get_field(ORIG_SHAPE + tensor.name)
    if field is not None:
        return tuple(int(field.parts[index][0]) for index in field.data)
    return tuple(int(v) for v in reversed(tensor.shape.tolist()))


def _torch(array: np.ndarray) -> torch.Tensor:
    """A tensor over the file's memory map (read-only; nothing here writes to it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def gguf_arch(file: Path) -> tuple[str | None, dict[str, tuple[str, tuple[int, ...]]]]:
    """The file's architecture and, per tensor name (prefix stripped), its GGML type name and shape:
    read from the header only."""
    reader = _reader(file)
    return _string(reader, ARCH_KEY), {_strip(t.name): (t.tensor_type.name, _shape(reader, t)) for t in reader.tensors}


def _reader(file: Path):
    import gguf

    try:
        return gguf.GGUFReader(file)
    except (ValueError, OSError, KeyError, IndexError) as exc:
        raise CheckpointError(f"{file} is not a readable GGUF file ({exc}); download it again") from exc


def _strip(name: str) -> str:
    return name[len(COMFY_PREFIX):] if name.startswith(COMFY_PREFIX) else name


def open_gguf(file: Path) -> tuple[dict[str, tuple[int, ...]], Callable[[str], torch.Tensor], dict]:
    """A Wan-architecture GGUF's shapes, a reader (float tensors as they are, quantised ones
    dequantised) and its blocks' quantised linears as packed layers (``Checkpoint`` fields)."""
    import gguf

    reader = _reader(file)
    arch = _string(reader, ARCH_KEY)
    if arch in TEXT_ARCHES:
        raise CheckpointError(f"{file} is a GGUF text encoder ({ARCH_KEY} {arch!r}), not a DiT; scail-blender reads "
                              "umT5 from the .pth or ComfyUI safetensors files only")
    if arch not in (None, WAN_ARCH):
        raise CheckpointError(f"{file} is a GGUF of a {arch!r} model ({ARCH_KEY}), not a Wan/SCAIL DiT; use a "
                              "SCAIL GGUF (architecture 'wan')")
    floats = {gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16}
    tensors = {_strip(t.name): t for t in reader.tensors}
    shapes = {name: _shape(reader, t) for name, t in tensors.items()}
    unreadable = sorted(q.name for q in {t.tensor_type for t in tensors.values()} - floats if not _dequantisable(q))
    if unreadable:
        raise CheckpointError(f"{file} uses GGML type(s) {', '.join(unreadable)}, which the gguf package installed "
                              "here cannot dequantise; upgrade it (pip install -U gguf) or use a Q8_0/Q4_K/Q5_K file")

    def raw(name: str) -> torch.Tensor:
        return _torch(tensors[name].data)

    def read(name: str) -> torch.Tensor:
        """A writable tensor (a LoRA merge adds to it in place): float data copied out of the
        read-only memory map, quantised data dequantised into new memory."""
        tensor = tensors[name]
        if tensor.tensor_type in floats:
            return raw(name).reshape(shapes[name]).clone()
        if tensor.tensor_type == gguf.GGMLQuantizationType.BF16:
            return raw(name).view(torch.bfloat16).reshape(shapes[name]).clone()
        return dequantise(raw(name), int(tensor.tensor_type), shapes[name])

    def packer(name: str):
        qtype, shape = int(tensors[name].tensor_type), shapes[name]

        def make(bias: torch.Tensor | None, dtype: torch.dtype, device: torch.device) -> nn.Module:
            return GgmlLinear(raw(name).reshape(-1).to(device), qtype, shape, bias, dtype)

        return make

    packed = {name: packer(name) for name, t in tensors.items()
              if t.tensor_type not in floats | {gguf.GGMLQuantizationType.BF16}
              and name.startswith("blocks.") and name.endswith(".weight") and len(shapes[name]) == 2}
    return shapes, read, packed


def _dequantisable(qtype) -> bool:
    """Whether a GGML type can be dequantised: in torch (models/ggml.py) or by gguf.quants."""
    import gguf

    if native(int(qtype)) or qtype == gguf.GGMLQuantizationType.BF16:
        return True
    try:
        gguf.quants.dequantize(np.zeros((1, gguf.GGML_QUANT_SIZES[qtype][1]), np.uint8), qtype)
    except (NotImplementedError, KeyError, ValueError, TypeError):
        return False
    return True
