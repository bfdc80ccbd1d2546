"""How one DiT forward is spread over a device group, and the process groups that carry it.

A forward of batch B on a group of N ranks is split in two ways at once:

- CFG parallel: when N and B are even, the two halves of the group (ranks 0..N/2-1 and
  N/2..N-1) each take half of the batch. The pipeline's batch is [conditional, unconditional],
  so one half runs the conditional pass and the other the unconditional one; they need no
  communication until the very end.
- Ulysses sequence parallel inside each half (or over all N ranks when the batch is not split):
  the token sequence is cut into one piece per rank, and around self-attention an all-to-all
  trades sequence pieces for head groups, so each rank attends over the whole sequence with
  heads / degree of the heads. The heads must therefore divide by the degree.

Rank r of a split group is rank r % (N/2) of half r // (N/2); rank 0 is in the first half and so
computes the conditional pass, which is the order the outputs are put back together in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh

from ...errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """One rank's share of one forward."""

    parts: int   # 2: the batch is halved over the two halves of the group (CFG parallel); else 1
    degree: int  # ranks that share one part's token sequence (the Ulysses degree)
    part: int    # which batch part this rank computes
    piece: int   # which sequence piece this rank holds


def split(world: int, rank: int, batch: int, heads: int) -> Split:
    """How rank ``rank`` of ``world`` shares a forward of ``batch`` with ``heads`` attention heads.

    Raises InputError when the heads do not divide by the sequence-parallel degree.
    """
    parts = 2 if world % 2 == 0 and batch % 2 == 0 else 1
    degree = world // parts
    if heads % degree:
        guided = "with guidance (CFG)" if parts == 2 else "without guidance"
        raise InputError(
            f"{world} GPUs cannot share this model's {heads} attention heads {guided}: each of "
            f"{degree} ranks would need {heads / degree:g} heads. Use --gpus with one of "
            f"{', '.join(map(str, usable_sizes(heads)))} for this model")
    return Split(parts, degree, rank // degree, rank % degree)


def usable_sizes(heads: int, up_to: int = 8) -> list[int]:
    """Group sizes up to ``up_to`` that work with and without CFG: 1, 2, 4, 5, 8 for 40 heads.

    Without CFG all n ranks share the heads; with it n / 2 do, which divides them whenever n does.
    """
    return [n for n in range(1, up_to + 1) if heads % n == 0]


def padded_length(length: int, degree: int) -> int:
    """The sequence length rounded up to a multiple of the degree (every rank gets equal pieces)."""
    return -(-length // degree) * degree


@dataclass
class ProcessGroups:
    """The torch.distributed groups of one device group, created once when the ranks start.

    ``halves[h]`` holds the ranks of half h (the Ulysses group when the batch is split);
    ``pairs[i]`` holds rank i of each half (where the two batch parts are put back together).
    Groups of one rank are None: nothing is communicated in them.
    """

    rank: int
    world: int
    halves: list[dist.ProcessGroup | None]
    pairs: list[dist.ProcessGroup | None]

    @classmethod
    def create(cls, rank: int, world: int, timeout: timedelta) -> ProcessGroups:
        """Every rank calls this in the same order (torch.distributed's rule for new_group)."""
        halves: list[dist.ProcessGroup | None] = []
        pairs: list[dist.ProcessGroup | None] = []
        if world % 2 == 0:
            half = world // 2
            halves = [dist.new_group(list(range(h * half, (h + 1) * half)), timeout=timeout) if half > 1 else None
                      for h in range(2)]
            pairs = [dist.new_group([i, i + half], timeout=timeout) for i in range(half)]
            log.debug("rank %d of %d: halves of %d ranks, %d pair groups", rank, world, half, half)
        return cls(rank, world, halves, pairs)

    def split(self, batch: int, heads: int) -> Split:
        return split(self.world, self.rank, batch, heads)

    def sequence_group(self, share: Split) -> dist.ProcessGroup | None:
        """The ranks that hold the pieces of this rank's sequence (None when it is not cut)."""
        if share.degree == 1:
            return None
        return self.halves[share.part] if share.parts == 2 else dist.group.WORLD

    def pair_group(self, share: Split) -> dist.ProcessGroup | None:
        """The ranks that hold the other batch part of this rank's tokens (None: batch not split)."""
        return self.pairs[self.rank % share.degree] if share.parts == 2 else None

    def mesh(self, device: torch.device) -> DeviceMesh:
        """A one-dimensional mesh over all ranks, for FSDP2's weight sharding (every rank calls it)."""
        return DeviceMesh.from_group(dist.group.WORLD, device.type)
