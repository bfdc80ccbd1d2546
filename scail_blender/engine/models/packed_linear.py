"""The one Linear shape of weights that stay packed in their file's storage (GGUF's GGML blocks,
ComfyUI's int8 / mxfp8 / nvfp4): the float weight exists only during a call, one layer at a time,
so a quantised file's DiT takes about its file's size in memory.

Subclasses say how their buffers unpack (``unpacked``); the rest is shared: the Linear interface
the engine's offload and LoRA code expect, and ``patches``, merged LoRA pairs (down, up, factor)
added to the dequantised copy at each call (lora.py), since the packed bytes cannot take a sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PackedLinear(nn.Module):
    def __init__(self, buffers: dict[str, torch.Tensor | None], shape: tuple[int, int], bias: torch.Tensor | None,
                 compute_dtype: torch.dtype) -> None:
        super().__init__()
        for name, tensor in buffers.items():  # buffers move with .to(device) and block offload
            self.register_buffer(name, tensor)
        self.register_buffer("bias", bias)
        self.shape = tuple(shape)
        self.compute_dtype = compute_dtype
        self.patches: list[tuple[torch.Tensor, torch.Tensor, float]] = []

    @property
    def in_features(self) -> int:
        return self.shape[1]

    @property
    def out_features(self) -> int:
        return self.shape[0]

    @property
    def input_dtype(self) -> torch.dtype:
        return self.compute_dtype

    def unpacked(self) -> torch.Tensor:
        """The stored weight as a new float32 tensor of ``shape``."""
        raise NotImplementedError

    def storage(self) -> str:
        """How the weight is stored, for ``repr``."""
        raise NotImplementedError

    def dequantised(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The weight as floats (float32 while patches are added), in ``dtype`` or the compute dtype."""
        weight = self.unpacked()
        for down, up, factor in self.patches:
            weight = weight.addmm_(up.to(weight.device, torch.float32), down.to(weight.device, torch.float32),
                                   alpha=factor)
        return weight.to(dtype or self.compute_dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(self.compute_dtype)
        return F.linear(x.to(self.compute_dtype), self.dequantised(), bias)

    def extra_repr(self) -> str:
        return f"in_features={self.shape[1]}, out_features={self.shape[0]}, {self.storage()}"
