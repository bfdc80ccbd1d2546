"""Where the networks run: one device string for onnxruntime and torch.

``auto`` takes CUDA when onnxruntime-gpu / a CUDA torch is installed and a GPU is present, the
CPU otherwise; an explicit ``cuda`` that is not available is the user's error, said once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import InputError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


def check_device(device: str) -> str:
    """``device`` if it names a known kind (``cuda:1`` included), else an InputError."""
    if device.split(":")[0] not in DEVICES:
        raise InputError(f"--device {device!r} is unknown; use auto, cpu, cuda or cuda:N")
    return device


def onnx_session(path: Path, device: str) -> Any:
    """An onnxruntime session on the CUDA provider when asked for or available, else the CPU."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise InputError("Pose extraction needs onnxruntime: pip install 'scail-blender[extract]' "
                         "(or onnxruntime-gpu for CUDA)") from exc
    available = ort.get_available_providers()
    kind, _, index = device.partition(":")
    providers: list[Any] = ["CPUExecutionProvider"]
    if kind != "cpu" and "CUDAExecutionProvider" in available:
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(index or 0)}))
    elif kind == "cuda":
        raise InputError("--device cuda: onnxruntime has no CUDA provider here; install onnxruntime-gpu "
                         "or use --device cpu")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise InputError(f"{path.name} is not a loadable ONNX model ({exc}); download it again") from exc


def torch_device(device: str) -> str:
    """The torch device for ``device``: CUDA when asked for or (auto) available."""
    import torch

    kind = device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: torch sees no CUDA GPU here; use --device cpu")
    if kind == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
