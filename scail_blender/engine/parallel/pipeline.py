"""ScailPipeline's contract on a device group: ``generate(job, on_progress, cancel)`` and ``release``.

``ParallelPipeline`` lives in the calling process (the command line, or the server's one worker)
and sends each job to rank 0 of its group, where a ``GroupPipeline`` runs it: the very same
ScailPipeline code (text encoder, CLIP, VAE, sampler and writer on rank 0, output written by
rank 0), except that its DiT is loaded on every rank and each call runs across all of them. The
same seed therefore gives the same video as one process, up to float rounding: the attention is
split across ranks, and rank 0 runs the encoders and the VAE with its own share of the CPU threads
(tests/engine/test_parallel.py bounds the difference).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from ...progress import ProgressCallback, no_progress
from ..checkpoints.formats import find_checkpoint_file
from ..components import ComponentFiles
from ...jobs.contract import Job, JobResult
from ..pipeline import ScailPipeline
from ..speed import Speed
from .launch import DeviceGroup
from .ranks import EXACT_ON_EVERY_RANK, CheckpointSource, GroupDiT, Leader

log = logging.getLogger(__name__)

PIPELINE_KEY = "pipeline"


class GroupPipeline(ScailPipeline):
    """Rank 0's pipeline: everything on rank 0's device except the DiT, which spans the group."""

    def __init__(self, checkpoint: str | Path, leader: Leader, shard_weights: bool) -> None:
        super().__init__(checkpoint, leader.device)
        self.checkpoint = str(checkpoint)
        self.leader = leader
        self.shard_weights = shard_weights

    def _load_dit(self, speed: Speed, report: ProgressCallback = no_progress) -> GroupDiT:  # type: ignore[override]
        if speed != Speed(attention=speed.attention) or speed.attention not in EXACT_ON_EVERY_RANK:
            raise InputError(f"speed modes ({speed.describe()}) do not run with --gpus yet; drop them, or run on one GPU")
        dit = self.leader.load_dit(CheckpointSource(str(self.dit_file)), self.dtypes.dit, self.shard_weights)
        log.info("DiT on %d ranks (%s weights)", self.leader.groups.world,
                 "FSDP2-sharded" if self.shard_weights else "replicated")
        return dit

    def release(self) -> None:
        if isinstance(self._dit, GroupDiT):
            self._dit.release()
        super().release()


@dataclass(frozen=True)
class GenerateTask:
    """One job on rank 0; the pipeline (and its loaded models) is kept for the next job."""

    checkpoint: str
    job: Job
    shard_weights: bool

    def __call__(self, leader: Leader, report: ProgressCallback, cancel: threading.Event) -> JobResult:
        pipeline = leader.state.get(PIPELINE_KEY)
        if pipeline is None or (pipeline.checkpoint, pipeline.shard_weights) != (self.checkpoint, self.shard_weights):
            _release(leader)
            pipeline = leader.state[PIPELINE_KEY] = GroupPipeline(self.checkpoint, leader, self.shard_weights)
        return pipeline.generate(self.job, report, cancel)


@dataclass(frozen=True)
class ReleaseTask:
    """Free the models on every rank (the processes stay, ready for the next job)."""

    def __call__(self, leader: Leader, report: ProgressCallback, cancel: threading.Event) -> None:
        _release(leader)


def _release(leader: Leader) -> None:
    pipeline = leader.state.pop(PIPELINE_KEY, None)
    if pipeline is not None:
        pipeline.release()


class ParallelPipeline:
    """A checkpoint folder on a group of GPUs; drop-in for ScailPipeline in a runner or the server.

    ``gpus`` processes are started on the first job and kept (with the loaded model) until
    ``close``. ``shard_weights`` splits the DiT's weights over the GPUs with FSDP2 instead of
    giving every GPU a copy, for GPUs too small for the 14B weights next to the activations.
    ``group`` shares an existing DeviceGroup (tests run several things on one).
    """

    def __init__(self, checkpoint: str | Path, gpus: int | None = None, device: str = "cuda", *,
                 shard_weights: bool = False, group: DeviceGroup | None = None) -> None:
        if (gpus is None) == (group is None):
            raise ValueError("give either gpus (a new group) or group (an existing one)")
        self.root = Path(checkpoint)
        ComponentFiles.locate(self.root)  # missing files fail here, before any process starts
        find_checkpoint_file(self.root)
        self.shard_weights = shard_weights
        self.group = group or DeviceGroup(gpus, device)

    def __enter__(self) -> ParallelPipeline:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def generate(self, job: Job, on_progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> JobResult:
        """Run ``job`` on the group; same contract (progress, cancel, errors) as ScailPipeline's."""
        job.validate()
        return self.group.run(GenerateTask(str(self.root), job, self.shard_weights), on_progress, cancel)

    @property
    def loaded(self) -> bool:
        """Whether the group's processes are up (they keep the model between jobs)."""
        return bool(self.group.pids)

    def release(self) -> None:
        """Free the DiT and VAE on every GPU (the server's 'release model'); the processes stay."""
        if self.group.pids:
            self.group.run(ReleaseTask())

    def close(self) -> None:
        """Stop the group's processes."""
        self.group.close()
