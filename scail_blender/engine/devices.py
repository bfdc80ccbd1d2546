"""Where and in what a job computes: the torch device a name means, and each network's dtype.

A device the machine does not have is the user's to fix, so it is refused with one line
before anything loads; the dtypes are the official choices on a GPU and float32 on a CPU.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import torch

from ..errors import InputError


def resolve_device(name: str | torch.device | None) -> torch.device:
    """The torch device to run on; a name that is no device, or CUDA without a GPU, is the
    user's to fix (one line), found before anything loads."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"--device {name!r} is not a torch device ({exc}); use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"--device {name!r}: SCAIL runs on cpu or cuda (cuda:N); use one of those")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: no CUDA GPU is usable from this Python (torch {torch.__version__}); "
                             "use --device cpu (very slow), or run where an NVIDIA GPU and CUDA torch are installed")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


@dataclass(frozen=True)
class Dtypes:
    """What each network computes in. On a GPU these are the official choices (the DiT and umT5 in
    bf16, CLIP in fp16); on a CPU everything is float32, which is what CPUs are fast at.
    ``Dtypes.gpu()`` on a CPU runs the GPU's mixture there, so tests catch a mixed-dtype bug
    without a GPU."""

    dit: torch.dtype = torch.float32
    t5: torch.dtype = torch.float32
    clip: torch.dtype = torch.float32

    @classmethod
    def gpu(cls) -> Dtypes:
        return cls(dit=torch.bfloat16, t5=torch.bfloat16, clip=torch.float16)

    @classmethod
    def for_device(cls, device: torch.device) -> Dtypes:
        return cls.gpu() if device.type == "cuda" else cls()


def free_memory() -> None:
    """Give freed tensors back now: the encoders are dropped between phases of one job."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
