"""``scail convert``: any supported checkpoint to one wan-branch safetensors file, streamed."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

from ...outputs import atomic_file
from ..models.dit import DitConfig
from .formats import COMPONENTS_METADATA, CONFIG_METADATA
from .loading import read_config


def convert(source: str | Path, target: str | Path, dtype: torch.dtype = torch.bfloat16) -> DitConfig:
    """Write any supported checkpoint as one wan-branch safetensors file, tensor by tensor.

    The release folder it came from is recorded in the file, so ``scail generate --checkpoint
    FILE`` finds the VAE, umT5 and CLIP there without being told again.
    """
    checkpoint, config = read_config(source)
    write_safetensors(Path(target), checkpoint.shapes, checkpoint.read, dtype, config,
                      components=release_folder(Path(source)))
    return config


def release_folder(source: Path) -> Path:
    """The folder of a release a DiT path belongs to (the folder itself, or above model/1/)."""
    source = source.resolve()
    if source.is_dir():
        return source
    if source.parent.parent.name == "model":
        return source.parents[2]
    return source.parent


_SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def write_safetensors(path: Path, shapes: dict[str, tuple[int, ...]],
                      read: Callable[[str], torch.Tensor], dtype: torch.dtype,
                      config: DitConfig | None = None, components: Path | None = None) -> None:
    """Stream tensors into a safetensors file so that only one is in memory at a time.

    The file appears only when complete (written beside it under a hidden name, then renamed
    by the output policy's ``atomic_file``).
    """
    if dtype not in _SAFETENSORS_DTYPES:
        raise ValueError(f"unsupported dtype {dtype}")
    itemsize = torch.empty((), dtype=dtype).element_size()
    header: dict = {"__metadata__": {"format": "pt"}}
    if config is not None:
        header["__metadata__"][CONFIG_METADATA] = json.dumps(asdict(config))
    if components is not None:
        header["__metadata__"][COMPONENTS_METADATA] = str(components)
    offset = 0
    names = sorted(shapes)
    for name in names:
        size = math.prod(shapes[name]) * itemsize
        header[name] = {"dtype": _SAFETENSORS_DTYPES[dtype], "shape": list(shapes[name]),
                        "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with atomic_file(path, "checkpoint") as partial, partial.open("wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for name in names:
            tensor = read(name).to(dtype).contiguous()
            out.write(tensor.reshape(-1).view(torch.uint8).numpy().data)
