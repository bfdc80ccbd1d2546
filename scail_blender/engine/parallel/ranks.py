"""The processes of a device group: rank 0 (the leader) and the other ranks (the followers).

Rank 0 runs whole tasks sent by the parent process (a generation job, a benchmark): text
encoder, CLIP, VAE, sampler and video writer live there only, exactly as in one process. The
followers hold nothing but their copy (or FSDP2 shard) of the DiT. Whenever rank 0 calls the DiT
it first tells every follower, through a pipe, "forward with model m, inputs shaped so", then
broadcasts the input tensors, and then all ranks run the forward together (ulysses.py). So the
followers compute only when rank 0 asks, and a cancelled job, checked by rank 0 between steps,
stops all of them.

Pipes carry the commands because they can wait for hours between jobs, which collectives
cannot (they time out). A failure is reported to the parent with its time, and the process then
ends: the parent stops the whole group, since ranks waiting in a collective cannot be told.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any, Protocol

import torch
import torch.distributed as dist

from ...errors import InputError, ScailError
from ...progress import Progress, ProgressCallback
from ..checkpoints.loading import load_dit, read_config
from ..models.dit import DitConfig, ScailDiT
from .groups import ProcessGroups
from .ulysses import SequenceParallel

log = logging.getLogger(__name__)

STORE_TIMEOUT = timedelta(minutes=5)
# Ranks may wait long in a collective for each other: rank 0 can send the first forward while a
# follower is still reading a 30-60 GB checkpoint. A rank that dies is noticed by the parent at
# once, not through this timeout, which only ends a group that hangs without anyone dying.
COLLECTIVE_TIMEOUT = timedelta(hours=1)


class DitSource(Protocol):
    """Where every rank gets the DiT from (picklable: it travels to the followers)."""

    def check(self) -> DitConfig:
        """Fail fast (on rank 0, before any follower is asked) and return the config."""
        ...

    def build(self, device: torch.device, dtype: torch.dtype) -> ScailDiT:
        """The model on ``device`` in ``dtype``, eval mode, no gradients."""
        ...


@dataclass(frozen=True)
class CheckpointSource:
    """A checkpoint folder or file that every rank reads itself."""

    path: str

    def check(self) -> DitConfig:
        return read_config(self.path)[1]

    def build(self, device: torch.device, dtype: torch.dtype) -> ScailDiT:
        return load_dit(self.path, dtype, device)


class Task(Protocol):
    """Work the parent sends to rank 0 (picklable); its return value goes back to the parent."""

    def __call__(self, leader: Leader, report: ProgressCallback, cancel: threading.Event) -> Any: ...


# Commands from rank 0 to the followers.
@dataclass(frozen=True)
class Load:
    model: int
    source: DitSource
    dtype: torch.dtype
    shard: bool


@dataclass(frozen=True)
class Forward:
    model: int
    # Input name -> a TensorSpec (that tensor is broadcast next, in this order) or a plain value.
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Release:
    model: int


@dataclass(frozen=True)
class PeakMemory:
    """All ranks all-gather their peak allocated CUDA memory since the last reset."""

    reset: bool


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: torch.dtype


# Messages to the parent.
@dataclass(frozen=True)
class Failure:
    """A rank failed; the group is no longer usable. ``error`` is the exception when picklable;
    ``exit_code`` is set instead when the parent only saw the process end."""

    rank: int
    at: float
    summary: str
    error: BaseException | None = None
    exit_code: int | None = None


def worker_main(rank: int, world: int, port: int, device_type: str, parent: Connection,
                peers: list[Connection]) -> None:
    """Entry point of every rank (spawned by launch.DeviceGroup)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which cancels the job
    logging.basicConfig(level=logging.WARNING, format=f"scail rank {rank}: %(levelname)s: %(message)s")
    try:
        device = _bind_device(rank, world, device_type)
        store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=STORE_TIMEOUT)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", store=store, rank=rank,
                                world_size=world, timeout=COLLECTIVE_TIMEOUT,
                                device_id=device if device.type == "cuda" else None)
        groups = ProcessGroups.create(rank, world, COLLECTIVE_TIMEOUT)
        if rank == 0:
            Leader(groups, device, peers).serve(parent)
        else:
            Follower(groups, device, peers[0]).serve()
    except BaseException as exc:  # noqa: B036 - whatever ends a rank, the parent must hear of it
        _report_failure(parent, rank, exc)
        os._exit(1)  # skip teardown: other ranks may be stuck in collectives with this one
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # all work is done and written; the interpreter's teardown of torch takes seconds


def _bind_device(rank: int, world: int, device_type: str) -> torch.device:
    if device_type == "cuda":
        torch.cuda.set_device(rank)
        return torch.device("cuda", rank)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))  # CPU ranks share the cores
    return torch.device("cpu")


def _report_failure(parent: Connection, rank: int, exc: BaseException) -> None:
    traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.flush()
    try:
        parent.send(Failure(rank, time.time(), f"{type(exc).__name__}: {exc}", _picklable(exc)))
    except OSError:
        pass  # the parent is gone; nobody is left to tell


def _picklable(exc: BaseException) -> BaseException | None:
    """exc if it survives the trip to the parent (most do; the summary travels anyway)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure to round-trip means: send the summary only
        return None
    return exc


class Leader:
    """Rank 0: runs the parent's tasks one at a time and drives the followers' side of the DiT."""

    def __init__(self, groups: ProcessGroups, device: torch.device, peers: list[Connection]) -> None:
        self.groups = groups
        self.device = device
        self.peers = peers
        # True while followers may be inside a collective with rank 0: a failure then ends the group.
        self.broken = False
        self._ids = itertools.count()
        # Objects tasks keep between tasks (the pipeline with its loaded models).
        self.state: dict[str, Any] = {}

    def serve(self, parent: Connection) -> None:
        tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        cancel = threading.Event()
        threading.Thread(target=_read_parent, args=(parent, tasks, cancel), daemon=True).start()

        def report(event: Progress) -> None:
            parent.send(("progress", event))

        while (task := tasks.get()) is not None:
            cancel.clear()
            try:
                result = task(self, report, cancel)
            except Exception as exc:
                if self.broken:
                    raise
                if not isinstance(exc, ScailError):
                    log.exception("task %s failed", type(task).__name__)
                parent.send(("error", _picklable(exc) or RuntimeError(f"{type(exc).__name__}: {exc}")))
            else:
                parent.send(("result", result))
        self.tell_followers(None)

    def load_dit(self, source: DitSource, dtype: torch.dtype, shard: bool = False) -> GroupDiT:
        """Load the DiT on every rank (replicated, or FSDP2-sharded with ``shard``)."""
        source.check()
        model = next(self._ids)
        self.tell_followers(Load(model, source, dtype, shard))
        try:
            dit = _build(source, dtype, shard, self.groups, self.device)
        except Exception:
            self.tell_followers(Release(model))  # the followers loaded theirs: free it again
            raise
        return GroupDiT(self, model, dit)

    def peak_memory_gb(self, reset: bool = False) -> list[float] | None:
        """Peak allocated CUDA memory of every rank, in rank order (None on the CPU)."""
        if self.device.type != "cuda":
            return None
        self.tell_followers(PeakMemory(reset))
        return _peak_memory(self.device, reset)

    def tell_followers(self, command: object) -> None:
        for peer in self.peers:
            peer.send(command)


def _read_parent(parent: Connection, tasks: queue.SimpleQueue, cancel: threading.Event) -> None:
    """Rank 0's reader thread: tasks go to the queue, a cancel request sets the event at once."""
    try:
        while True:
            kind, payload = parent.recv()
            if kind == "cancel":
                cancel.set()
            elif kind == "task":
                tasks.put(payload)
            else:
                break
    except EOFError:
        pass  # the parent is gone: stop as if told to
    tasks.put(None)


# Attention settings a device group honours: exact attention, whichever kernel each rank picks.
EXACT_ON_EVERY_RANK = ("auto", "sdpa")


class GroupDiT:
    """Rank 0's handle on a DiT loaded on every rank; called exactly like the ScailDiT."""

    def __init__(self, leader: Leader, model: int, dit: ScailDiT) -> None:
        self.leader = leader
        self.model = model
        self.dit: ScailDiT | None = dit
        self.config = dit.config
        self._signature = inspect.signature(dit.forward)
        self._checked = inspect.signature(dit.check_inputs).parameters

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.dit is None:
            raise RuntimeError("internal error: this DiT was released")
        inputs = dict(self._signature.bind(*args, **kwargs).arguments)
        # Bad inputs fail here on rank 0 alone, before any follower is involved.
        self.dit.check_inputs(**{name: inputs.get(name) for name in self._checked})
        self.leader.groups.split(inputs["x"].shape[0], self.config.num_heads)
        self.leader.broken = True
        tensors = {n: v.contiguous() for n, v in inputs.items() if isinstance(v, torch.Tensor)}
        self.leader.tell_followers(Forward(self.model, {n: TensorSpec(tuple(tensors[n].shape), tensors[n].dtype)
                                               if n in tensors else v for n, v in inputs.items()}))
        for tensor in tensors.values():
            dist.broadcast(tensor, src=0)
        with torch.no_grad():
            out = self.dit(**{**inputs, **tensors})
        self.leader.broken = False
        return out

    def set_attention(self, name: str) -> None:
        """Every rank runs exact attention (torch's SDPA) as it was loaded; only those names fit."""
        if name not in EXACT_ON_EVERY_RANK:
            raise InputError(f"attention {name!r} does not run with --gpus yet; use auto or sdpa")

    def release(self) -> None:
        """Free this model on every rank."""
        if self.dit is not None:
            self.leader.tell_followers(Release(self.model))
            self.dit = None


class Follower:
    """Ranks 1..N-1: hold DiT copies (or shards) and join rank 0's forwards until told to stop."""

    def __init__(self, groups: ProcessGroups, device: torch.device, commands: Connection) -> None:
        self.groups = groups
        self.device = device
        self.commands = commands
        self.models: dict[int, ScailDiT] = {}

    def serve(self) -> None:
        try:
            while (command := self.commands.recv()) is not None:
                self._run(command)
        except EOFError:
            pass  # rank 0 is gone; the parent knows why and stops the group

    def _run(self, command: object) -> None:
        if isinstance(command, Load):
            self.models[command.model] = _build(command.source, command.dtype, command.shard,
                                                self.groups, self.device)
        elif isinstance(command, Forward):
            inputs = {}
            for name, value in command.inputs.items():
                if isinstance(value, TensorSpec):
                    value = torch.empty(value.shape, dtype=value.dtype, device=self.device)
                    dist.broadcast(value, src=0)
                inputs[name] = value
            with torch.no_grad():
                self.models[command.model](**inputs)
        elif isinstance(command, Release):
            self.models.pop(command.model, None)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        elif isinstance(command, PeakMemory):
            _peak_memory(self.device, command.reset)
        else:
            raise RuntimeError(f"internal error: unknown command {command!r}")


def _build(source: DitSource, dtype: torch.dtype, shard: bool, groups: ProcessGroups,
           device: torch.device) -> ScailDiT:
    """One rank's DiT: loaded whole, or loaded on the CPU and FSDP2-sharded block by block
    (each block is moved to the device whole and then cut, so the device never holds the model)."""
    if not shard:
        dit = source.build(device, dtype)
    else:
        from torch.distributed.fsdp import fully_shard

        dit = source.build(torch.device("cpu"), dtype)
        mesh = groups.mesh(device)
        for block in dit.blocks:
            fully_shard(block, mesh=mesh)
        fully_shard(dit, mesh=mesh)
    if groups.world > 1:
        SequenceParallel(dit, groups)
    return dit


def _peak_memory(device: torch.device, reset: bool) -> list[float]:
    peak = torch.tensor([torch.cuda.max_memory_allocated(device) / 1e9], dtype=torch.float64, device=device)
    every = [torch.empty_like(peak) for _ in range(dist.get_world_size())]
    dist.all_gather(every, peak)
    if reset:
        torch.cuda.reset_peak_memory_stats(device)
    return [float(p) for p in every]
