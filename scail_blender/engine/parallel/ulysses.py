"""Run one ScailDiT's forward across a device group: CFG parallel and Ulysses sequence parallel.

Every rank calls the model with the same full inputs and gets the same full output back. In
between, only the blocks are shared out (groups.py says how):

- before the first block: this rank's batch part is taken, and the token sequence, padded with
  zero tokens to a multiple of the degree, is cut into equal pieces; this rank keeps its piece.
  Every block gets the matching piece of the RoPE factors (padded with ones) and this rank's
  part of the batch of time, text and image embeddings;
- in each block's self-attention: q, k and v are all-to-all'd from [piece, all heads] to [whole
  sequence, heads / degree]; the padding tokens are dropped before attention, so they change
  nothing, and put back (as zeros) before the reverse all-to-all of the attention output.
  Cross-attention (to the replicated text and image tokens), the MLP and the modulation work
  token by token, so they run on the piece as they are;
- after the last block: the pieces are all-gathered, the padding is cut off, and the two batch
  parts are all-gathered across the halves, so the head and unpatchify see the whole batch.

This is done with forward pre-hooks on the blocks, a forward hook on the last and a
wrapper around each SelfAttention's ``attend`` callable, so wan_block.py and dit.py stay
single-process code and whatever else their forward does (new attention kernels included) is
kept. Stem, time and text embeddings, head and unpatchify run in full on every rank: they are a
small part of the work.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..models.dit import ScailDiT
from .groups import ProcessGroups, Split, padded_length

log = logging.getLogger(__name__)

Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# WanBlock.forward arguments that every block gets for the whole batch from ScailDiT.forward
# (x is cut once, before the first block; rope is the same for the whole batch).
BATCH_ARGUMENTS = ("time6", "text", "image")


@dataclass(frozen=True)
class _Forward:
    """What the attention wrappers need to know about the forward in progress."""

    share: Split
    sequence: dist.ProcessGroup | None
    length: int  # tokens before padding
    padded: int  # tokens after padding, a multiple of share.degree
    rope: torch.Tensor  # this rank's piece of the RoPE factors, the same for every block


class SequenceParallel:
    """Installs the hooks on ``dit`` (once; they stay for the model's life) and holds their state."""

    def __init__(self, dit: ScailDiT, groups: ProcessGroups) -> None:
        self.groups = groups
        self.heads = dit.config.num_heads
        self._forward: _Forward | None = None
        self._first = dit.blocks[0]
        self._block_signature = inspect.signature(self._first.forward)
        for block in dit.blocks:
            block.register_forward_pre_hook(self._scatter, with_kwargs=True)
            block.self_attn.attend = _UlyssesAttention(block.self_attn.attend, self)
        dit.blocks[-1].register_forward_hook(self._gather)
        log.debug("rank %d of %d: %d blocks run split", groups.rank, groups.world, len(dit.blocks))

    def _scatter(self, block: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Every block gets this rank's batch part and RoPE piece; the first also cuts the tokens
        (later blocks get the previous block's piece)."""
        bound = self._block_signature.bind(*args, **kwargs)
        values = bound.arguments
        if block is self._first:
            self._forward, values["x"] = self._cut(values["x"], values["rope"])
        step = self._forward
        if step is None:
            raise RuntimeError("internal error: a block ran before the first block's hook")
        if step.share.parts == 2:
            for name in BATCH_ARGUMENTS:
                values[name] = values[name].chunk(2)[step.share.part]
        values["rope"] = step.rope
        return bound.args, bound.kwargs

    def _cut(self, x: torch.Tensor, rope: torch.Tensor) -> tuple[_Forward, torch.Tensor]:
        """This rank's share of the first block's tokens (its batch part, its sequence piece)."""
        share = self.groups.split(x.shape[0], self.heads)
        if share.parts == 2:
            x = x.chunk(2)[share.part]
        length = x.shape[1]
        padded = padded_length(length, share.degree)
        size = padded // share.degree
        piece = slice(share.piece * size, (share.piece + 1) * size)
        rope = torch.cat([rope, rope.new_ones(padded - length, *rope.shape[1:])])
        step = _Forward(share, self.groups.sequence_group(share), length, padded, rope[piece])
        return step, _pad(x, 1, padded)[:, piece]

    def _gather(self, _block: nn.Module, _args: tuple, x: torch.Tensor) -> torch.Tensor:
        step, self._forward = self._forward, None
        if step is None:
            raise RuntimeError("internal error: the last block ran without the first block's hook")
        if step.sequence is not None:
            x = _all_gather(x, step.sequence, dim=1)
        x = x[:, :step.length]
        pair = self.groups.pair_group(step.share)
        if pair is not None:
            x = _all_gather(x, pair, dim=0)
        return x

    @property
    def current(self) -> _Forward | None:
        return self._forward


class _UlyssesAttention:
    """attention(q, k, v) over the whole sequence for this rank's heads, given sequence pieces."""

    def __init__(self, attend: Attend, owner: SequenceParallel) -> None:
        self.attend = attend
        self.owner = owner

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        step = self.owner.current
        if step is None or step.sequence is None:
            return self.attend(q, k, v)
        group, length = step.sequence, step.length
        # [2, B, piece, heads, d] -> [2, B, padded, heads / degree, d]; q, k in one exchange.
        qk = _all_to_all(torch.stack([q, k]), group, scatter_dim=3, gather_dim=2)[:, :, :length]
        v = _all_to_all(v, group, scatter_dim=2, gather_dim=1)[:, :length]
        out = self.attend(qk[0], qk[1], v)  # [B, length, heads / degree * d]
        out = _pad(out.unflatten(-1, (v.shape[2], v.shape[3])), 1, step.padded)
        return _all_to_all(out, group, scatter_dim=1, gather_dim=2).flatten(2)


def _pad(x: torch.Tensor, dim: int, length: int) -> torch.Tensor:
    """x with zeros appended along ``dim`` up to ``length``."""
    missing = length - x.shape[dim]
    if missing == 0:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([x, x.new_zeros(shape)], dim=dim)


def _all_to_all(x: torch.Tensor, group: dist.ProcessGroup, scatter_dim: int, gather_dim: int) -> torch.Tensor:
    """Send chunk j of x along ``scatter_dim`` to rank j; join what arrives along ``gather_dim``."""
    degree = dist.get_world_size(group)
    send = torch.stack(x.chunk(degree, dim=scatter_dim))
    received = torch.empty_like(send)
    dist.all_to_all_single(received, send, group=group)
    return torch.cat(received.unbind(0), dim=gather_dim)


def _all_gather(x: torch.Tensor, group: dist.ProcessGroup, dim: int) -> torch.Tensor:
    """Every rank's x, in rank order, joined along ``dim``."""
    x = x.contiguous()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, x, group=group)
    return torch.cat(parts, dim=dim)
