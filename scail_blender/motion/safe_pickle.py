"""Load pickled NLF results without running arbitrary code.

NLF results travel as pickles (SCAIL-Pose's batch script), ``torch.save`` files (ComfyUI users)
and npz files with object arrays (``np.savez`` of ragged per-frame lists). All three can execute
code when loaded naively, so every pickle stream here goes through an allowlist: containers,
numpy arrays and, when torch is installed, tensors. Anything else is named and refused.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputError

TORCH_HINT = (
    "reading .pt files and pickled tensors needs PyTorch: install it into this Python "
    "(`pip install torch`), or convert the file to .npz where torch is available"
)

_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how protocol-2 pickles store raw bytes
}


def _tensor_from_bytes(data: bytes) -> Any:
    """Stand-in for torch's storage loader that refuses anything but plain tensor data."""
    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class AllowlistUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy/torch data globals plus the given stand-ins."""

    def __init__(self, file: Any, name: str, extra: dict[tuple[str, str], Any] | None = None) -> None:
        # latin1 reads Python 2 pickles (the official SMPL files) and changes nothing for Python 3 ones.
        super().__init__(file, encoding="latin1")
        self.name = name
        self.extra = extra or {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.extra:
            return self.extra[(module, name)]
        if (module, name) in _NUMPY_GLOBALS or (module.startswith("numpy.dtypes") and name.endswith("DType")):
            return super().find_class(module, name)
        if module.startswith("torch"):
            return self._torch_global(module, name)
        raise InputError(
            f"{self.name} contains a pickled '{module}.{name}', which is not NLF result data; "
            "only dicts and lists of arrays or tensors are read. Re-save the results as plain arrays."
        )

    def _torch_global(self, module: str, name: str) -> Any:
        try:
            import torch
            import torch._utils
            import torch.storage
        except ImportError:
            raise InputError(f"{self.name}: {TORCH_HINT}.") from None
        allowed: dict[tuple[str, str], Callable[..., Any]] = {
            ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
            ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
            ("torch.storage", "_load_from_bytes"): _tensor_from_bytes,
        }
        if (module, name) in allowed:
            return allowed[(module, name)]
        if module == "torch" and name.endswith("Storage"):
            return getattr(torch, name)
        raise InputError(f"{self.name} contains a pickled '{module}.{name}', which is not tensor data; refusing to load it.")


def load_pickle(path: Path) -> Any:
    """Unpickle ``path`` through the allowlist."""
    try:
        with path.open("rb") as handle:
            return AllowlistUnpickler(handle, path.name).load()
    except InputError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InputError(f"{path.name} is not a readable pickle of NLF results ({exc}); the file may be truncated.") from None


def load_torch(path: Path) -> Any:
    """``torch.load`` restricted to tensors and containers (``weights_only``), onto the CPU."""
    try:
        import torch
    except ImportError:
        raise InputError(f"{path.name}: {TORCH_HINT}.") from None
    if not zipfile.is_zipfile(path):
        return load_pickle(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported content"
        raise InputError(f"{path.name} holds objects other than tensors and containers ({first}); refusing to load it.") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path.name} is not a readable torch file ({exc}); the file may be truncated.") from None


def load_npz(path: Path) -> dict[str, Any]:
    """The arrays of an npz; object arrays (ragged lists) are unpickled through the allowlist."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path.name} is not a readable npz file ({exc}).") from None
    arrays: dict[str, Any] = {}
    with archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            try:
                raw = archive.read(member)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise InputError(f"{path.name}: member {member} is damaged ({exc}).") from None
            arrays[member[: -len(".npy")]] = _read_npy(raw, f"{path.name}:{member}")
    return arrays


def _read_npy(raw: bytes, name: str) -> Any:
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read_header(stream)
    except ValueError as exc:
        raise InputError(f"{name} is not a valid .npy array ({exc}).") from None
    if dtype.hasobject:
        try:
            return AllowlistUnpickler(stream, name).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise InputError(f"{name} holds a damaged list of arrays ({exc}).") from None
    stream.seek(0)
    try:
        return np.lib.format.read_array(stream, allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{name} is truncated or damaged ({exc}).") from None
