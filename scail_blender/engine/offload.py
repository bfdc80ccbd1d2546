"""Block offload: the DiT's blocks live in pinned CPU memory and visit the GPU one at a time.

The 40 blocks are 95% of the 14B model (about 0.7 GB each in bf16, 0.35 GB in fp8). Keeping them
on the host and copying each one in just before it runs leaves about two blocks' worth of weights
on the GPU. The copy of block i + 1 is issued on a side stream before block i's kernels are
queued, so it overlaps block i's compute (arithmetic, not a measurement: 0.7 GB is about 30 ms at
PCIe 4 x16's 25 GB/s, while a block at 48,832 tokens and batch 2 is about 160 TFLOP of matmuls);
the compute stream waits on the copy's event only when it gets there. Device copies are tagged with ``record_stream`` so the caching allocator does not hand
their memory to the next copy while a block still reads it.

On a machine without CUDA the same code runs with plain synchronous copies (no streams, no
pinning), which is how the tests check it gives the same outputs as the resident model.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
from torch import nn

log = logging.getLogger(__name__)


class BlockOffload:
    """Iterating yields each block with its tensors on ``device``, the next one already on its way."""

    def __init__(self, blocks: nn.ModuleList, device: str | torch.device) -> None:
        self.blocks = blocks
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.copy_stream = torch.cuda.Stream(self.device) if self.cuda else None
        self.host: list[dict[str, torch.Tensor]] = []
        for block in blocks:
            tensors = {}
            for name, tensor in _tensors(block):
                host = tensor.detach().to("cpu")
                tensors[name] = host.pin_memory() if self.cuda else host
            self.host.append(tensors)
            _point(block, tensors)
        self.on_device: set[int] = set()
        self.most_on_device = 0
        log.info("offloading %d blocks (%.2f GB) to %s host memory", len(blocks), self.host_bytes / 1e9,
                 "pinned" if self.cuda else "plain")

    @property
    def host_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for tensors in self.host for t in tensors.values())

    def __iter__(self) -> Iterator[nn.Module]:
        pending = self._prefetch(0)
        current = None
        try:
            for index, block in enumerate(self.blocks):
                tensors = self._arrive(pending)
                _point(block, tensors)
                current = index
                self.on_device.add(index)
                pending = self._prefetch(index + 1) if index + 1 < len(self.blocks) else None
                self.most_on_device = max(self.most_on_device, len(self.on_device) + (pending is not None))
                yield block
                self._release(index)
                current = None
        finally:
            if current is not None:
                self._release(current)

    def restore(self) -> None:
        """Put every block back on the device for good (the benchmark switches modes with it)."""
        for block, tensors in zip(self.blocks, self.host):
            _point(block, {name: t.to(self.device) for name, t in tensors.items()})
        self.host = []

    def _prefetch(self, index: int) -> tuple[dict[str, torch.Tensor], torch.cuda.Event | None]:
        """Start copying block ``index`` to the device (on the side stream on CUDA)."""
        context = torch.cuda.stream(self.copy_stream) if self.cuda else contextlib.nullcontext()
        with context:
            copies = {name: torch.empty_like(t, device=self.device).copy_(t, non_blocking=self.cuda)
                      for name, t in self.host[index].items()}
            event = torch.cuda.Event() if self.cuda else None
            if event is not None:
                event.record(self.copy_stream)
        return copies, event

    def _arrive(self, pending: tuple[dict[str, torch.Tensor], torch.cuda.Event | None]) -> dict[str, torch.Tensor]:
        """Make the compute stream wait for a prefetched copy (no host wait) and return its tensors."""
        copies, event = pending
        if event is not None:
            compute = torch.cuda.current_stream(self.device)
            compute.wait_event(event)
            for tensor in copies.values():
                tensor.record_stream(compute)
        return copies

    def _release(self, index: int) -> None:
        _point(self.blocks[index], self.host[index])
        self.on_device.discard(index)


def _tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [*module.named_parameters(), *((n, b) for n, b in module.named_buffers() if b is not None)]


def _point(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Make the module's parameters and buffers use these tensors (no copy)."""
    for name, tensor in _tensors(module):
        tensor.data = tensors[name]
