"""Opening DiT checkpoint files (SAT and FSDP pickles, safetensors) without reading their tensors.

Pickles are memory-mapped and restricted to tensors and containers; any other object they name
becomes an inert stand-in, so nothing in a downloaded file is executed.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from ...errors import CheckpointError
from .comfy import comfy_view, is_comfy_layout
from .names import SAT_PREFIX, sat_to_wan

SAT_PATH = Path("model/1/mp_rank_00_model_states.pt")
FSDP_PATH = Path("model/1/fsdp2_rank_0000_checkpoint.pt")
CONFIG_METADATA = "scail_dit_config"
# The release folder a converted file came from: where `scail generate` finds its VAE, umT5, CLIP.
COMPONENTS_METADATA = "scail_components"


@dataclass
class Checkpoint:
    """An opened checkpoint in wan-branch names: shapes known, tensors read on demand.

    ``packed`` names the linear weights the file stores quantised (fp8, int8, mxfp8, nvfp4, GGML) with a maker of
    the layer that keeps them so: ``make(bias, compute_dtype, device)``. ``read`` still gives
    any of them dequantised (``scail convert``, ``load_dit(keep_quantised=False)``).
    """

    path: Path
    shapes: dict[str, tuple[int, ...]]
    read: Callable[[str], torch.Tensor]
    unknown: list[str]  # SAT names no rule maps
    num_heads: int | None = None  # from our own safetensors metadata, when present
    packed: dict[str, Callable[[torch.Tensor | None, torch.dtype, torch.device], nn.Module]] = field(default_factory=dict)
    storage: str = "float"  # "float", "fp8", "gguf", "nvfp4", "fp8+int8"...: how the file stores the blocks' linears


def find_checkpoint_file(path: str | Path) -> Path:
    """The DiT file for a file path or an official checkpoint folder (SCAIL-Preview/, SCAIL-2/)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for relative in (SAT_PATH, FSDP_PATH):
            if (path / relative).is_file():
                return path / relative
        converted = sorted(path.glob("*.safetensors"))
        if len(converted) == 1:  # a `scail convert` file placed in the folder instead of model/1/
            return converted[0]
        raise CheckpointError(f"{path} holds no SCAIL DiT: expected {SAT_PATH} (SCAIL-Preview) or "
                              f"{FSDP_PATH} (SCAIL-2) inside it, nor one .safetensors file; point to the "
                              "downloaded model folder or to a .safetensors file")
    raise CheckpointError(f"checkpoint {path} does not exist; give the SCAIL model folder or a "
                          ".safetensors file")


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open any supported DiT checkpoint without reading its tensors yet."""
    file = find_checkpoint_file(path)
    if zipfile.is_zipfile(file):
        return _open_torch(file)
    with file.open("rb") as handle:
        if handle.read(4) == b"GGUF":
            from .gguf import open_gguf

            shapes, read, packed = open_gguf(file)
            return Checkpoint(file, shapes, read, [], packed=packed, storage="gguf")
    return _open_safetensors(file)


def _open_safetensors(file: Path) -> Checkpoint:
    try:
        handle = safe_open(file, framework="pt", device="cpu")
        slices = {name: handle.get_slice(name) for name in handle.keys()}
        shapes = {name: tuple(s.get_shape()) for name, s in slices.items()}
        dtypes = {name: s.get_dtype() for name, s in slices.items()}
        metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{file} is neither a PyTorch checkpoint nor a readable safetensors "
                              f"file ({exc}); download it again or convert it with `scail convert`"
                              ) from exc
    num_heads = None
    if CONFIG_METADATA in metadata:
        num_heads = json.loads(metadata[CONFIG_METADATA]).get("num_heads")
    if not is_comfy_layout(shapes, dtypes):
        return Checkpoint(file, shapes, handle.get_tensor, [], num_heads)
    try:  # ComfyUI prefix or fp8 weights: see comfy.py
        shapes, read, packed, storage = comfy_view(shapes, dtypes, metadata, handle.get_tensor)
    except CheckpointError as exc:
        raise CheckpointError(f"{file}: {exc}") from exc
    return Checkpoint(file, shapes, read, [], num_heads, packed, storage)


class _StandIn:
    """Takes the place of any non-tensor class or function a checkpoint pickle refers to."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass


def _torch_load(file: Path) -> object:
    """torch.load restricted to tensors and containers, memory-mapped; other objects are stand-ins."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(file)
        stand_ins = [(type(f"StandIn[{name}]", (_StandIn,), {}), name) for name in names]
        with torch.serialization.safe_globals(stand_ins):
            return torch.load(file, map_location="cpu", mmap=True, weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line]
        if refused:
            raise CheckpointError(f"{file} is not a plain checkpoint: loading it would run code "
                                  f"({refused[0]}), which this loader refuses; use the official "
                                  "download") from exc
        raise CheckpointError(f"{file} could not be read ({exc}); the download is probably "
                              "damaged: download it again") from exc
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, AttributeError,
            TypeError) as exc:
        raise CheckpointError(f"{file} could not be read as a PyTorch checkpoint ({exc}); the "
                              "download is probably damaged: download it again") from exc


def _open_torch(file: Path) -> Checkpoint:
    loaded = _torch_load(file)
    state = loaded.get("module") if isinstance(loaded, dict) else None
    if state is None and isinstance(loaded, dict) and all(isinstance(v, torch.Tensor)
                                                          for v in loaded.values()):
        state = loaded
    if not isinstance(state, dict) or not state:
        keys = list(loaded)[:8] if isinstance(loaded, dict) else type(loaded).__name__
        raise CheckpointError(f"{file} has no model state dict (no 'module' entry; found {keys}); "
                              "it is not a SCAIL DiT checkpoint")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    unknown: list[str] = []
    if any(name.startswith(SAT_PREFIX) for name in tensors):
        tensors, unknown = sat_to_wan(tensors)
    return Checkpoint(file, {k: tuple(v.shape) for k, v in tensors.items()},
                      tensors.__getitem__, unknown)


def recorded_components(file: Path) -> Path | None:
    """The release folder ``scail convert`` recorded in a safetensors file, if any."""
    if zipfile.is_zipfile(file):
        return None
    try:
        with safe_open(file, framework="pt", device="cpu") as handle:
            folder = (handle.metadata() or {}).get(COMPONENTS_METADATA)
    except (SafetensorError, OSError, ValueError):
        return None
    return Path(folder) if folder else None
