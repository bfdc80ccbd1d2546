"""Start and talk to a device group: N spawned processes, one per GPU, that run one task at a time.

The calling process (the command line, the server's worker) is not a rank itself: it owns the
rendezvous (a TCPStore on 127.0.0.1 at a port the OS picks, so there is no race for a free
port), spawns the ranks, sends tasks to rank 0 and relays its progress, result or error. It is
the only process that can always act when a rank fails, because it is never inside a collective:
when any rank reports a failure or dies, it stops every rank and raises the first failure, and
the next task starts a fresh group.

Every process started here inherits NVLink multicast switched off (NCCL_NVLS_ENABLE=0 and the
others below), as the project's device machines require.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection, wait
from typing import Any

import torch
import torch.distributed as dist

from ...errors import DeviceGroupError, InputError, OutOfMemory, ScailError
from ...progress import ProgressCallback
from .ranks import Failure, Task, worker_main

log = logging.getLogger(__name__)

MULTICAST_OFF = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
# After the first failure, how long the other ranks get to report theirs (the earliest one wins).
FAILURE_GRACE_S = 2.0
STOP_TIMEOUT_S = 10.0


class DeviceGroup:
    """``size`` ranks on the CUDA GPUs 0..size-1 (NCCL), or on the CPU (gloo) for tests.

    Started on the first ``run``; one task at a time; ``close`` (or leaving a ``with`` block)
    stops the ranks.
    """

    def __init__(self, size: int, device: str = "cuda") -> None:
        if size < 1:
            raise InputError(f"--gpus must be at least 1, got {size}")
        if device not in ("cuda", "cpu"):
            raise InputError(f"a device group runs on 'cuda' or 'cpu', not {device!r}")
        if device == "cuda" and torch.cuda.device_count() < size:
            raise InputError(f"--gpus {size} needs {size} CUDA GPUs but {torch.cuda.device_count()} are visible; "
                             "lower --gpus (or check CUDA_VISIBLE_DEVICES)")
        self.size = size
        self.device = device
        self._ranks: _Ranks | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> DeviceGroup:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """Process ids of the running ranks, rank order (empty before the first task)."""
        return [p.pid for p in self._ranks.processes] if self._ranks else []

    def start(self) -> None:
        """Start the ranks now instead of at the first ``run`` (they import and connect meanwhile)."""
        with self._lock:
            if self._ranks is None:
                self._ranks = self._start()

    def run(self, task: Task, on_progress: ProgressCallback | None = None,
            cancel: threading.Event | None = None) -> Any:
        """Run ``task`` on rank 0 with the group; return its result or raise its error.

        ``cancel`` is passed on to rank 0 as soon as it is set; ``on_progress`` gets rank 0's
        progress events in this thread. A rank's failure stops the group and raises.
        """
        with self._lock:
            if self._ranks is None:
                self._ranks = self._start()
            ranks = self._ranks
            try:
                kind, payload = self._run(ranks, task, on_progress, cancel)
            except BaseException:  # e.g. a second Ctrl-C: rank 0 is mid-task, so the group goes
                self._ranks = None
                _stop(ranks.processes, graceful=False)
                raise
            if kind == "failed":  # the ranks are stopped already
                self._ranks = None
        if kind == "result":
            return payload
        raise payload  # "error": the task's own (cancelled, bad input...), the group carries on

    def close(self) -> None:
        """Stop the ranks (they finish the task in hand first); a later ``run`` starts new ones."""
        with self._lock:
            if self._ranks is None:
                return
            ranks, self._ranks = self._ranks, None
            try:
                ranks.leader.send(("stop", None))
            except OSError:
                pass  # rank 0 is already gone
            _stop(ranks.processes, graceful=True)

    def _run(self, ranks: _Ranks, task: Task, on_progress: ProgressCallback | None,
             cancel: threading.Event | None) -> tuple[str, Any]:
        """Relay progress until rank 0 answers ("result", value) or ("error", exception), or
        until a rank fails: ("failed", the error naming it), with every rank stopped."""
        ranks.leader.send(("task", task))
        cancel_sent = False
        while True:
            if cancel is not None and cancel.is_set() and not cancel_sent:
                ranks.leader.send(("cancel", None))
                cancel_sent = True
            ready = wait(ranks.connections, timeout=0.1)
            failures = []
            for message in ranks.read(ready):
                if isinstance(message, Failure):
                    failures.append(message)
                elif failures:
                    continue  # a failure ends the task; the rest is moot
                elif message[0] == "progress":
                    if on_progress is not None:
                        on_progress(message[1])
                else:
                    return message
            if failures:
                return "failed", self._abort(ranks, failures)

    def _start(self) -> _Ranks:
        os.environ.update(MULTICAST_OFF)  # inherited by every rank (and anything they start)
        context = multiprocessing.get_context("spawn")
        store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                              timeout=timedelta(minutes=5))
        leader, leader_end = context.Pipe()
        commands = [context.Pipe(duplex=False) for _ in range(1, self.size)]  # (follower's, rank 0's)
        reports = [context.Pipe(duplex=False) for _ in range(1, self.size)]   # (ours, follower's)
        processes = []
        for rank in range(self.size):
            if rank == 0:
                parent, peers = leader_end, [send for _, send in commands]
            else:
                parent, peers = reports[rank - 1][1], [commands[rank - 1][0]]
            processes.append(context.Process(
                target=worker_main, name=f"scail-rank-{rank}", daemon=True,
                kwargs=dict(rank=rank, world=self.size, port=store.port, device_type=self.device,
                            parent=parent, peers=peers)))
        for process in processes:
            process.start()
        # The ranks hold these ends now; closing ours lets a rank see EOF when its peer dies.
        for end in [leader_end, *(e for pair in commands for e in pair), *(s for _, s in reports)]:
            end.close()
        log.info("started %d ranks on %s (pids %s)", self.size, self.device, [p.pid for p in processes])
        return _Ranks(processes, leader, [receive for receive, _ in reports], store)

    def _abort(self, ranks: _Ranks, failures: list[Failure]) -> ScailError:
        """Collect the other ranks' reports for a moment, stop every rank, and name the cause."""
        deadline = time.monotonic() + FAILURE_GRACE_S
        while any(p.is_alive() for p in ranks.processes) and time.monotonic() < deadline:
            failures += [m for m in ranks.read(wait(ranks.connections, timeout=0.05)) if isinstance(m, Failure)]
        _stop(ranks.processes, graceful=False)
        # Reports still in the pipes count; the ends of the ranks stopped just now do not.
        failures += [m for m in ranks.read(ranks.connections) if isinstance(m, Failure) and m.exit_code is None]
        return _describe(_first_cause(failures), self.size)


@dataclass
class _Ranks:
    """The running processes of a group and this process's pipes to them."""

    processes: list[multiprocessing.Process]
    leader: Connection          # duplex pipe to rank 0: tasks out; progress, results, failures in
    reports: list[Connection]   # failure reports of ranks 1..N-1
    store: dist.TCPStore        # the rendezvous, kept alive with the group
    ended: set[int] = field(default_factory=set)  # ranks whose end was already reported

    @property
    def connections(self) -> list:
        return [self.leader, *self.reports, *(p.sentinel for p in self.processes)]

    def read(self, ready: list) -> list:
        """Messages waiting on the ready connections; a rank that ended is a Failure (exit code)."""
        messages: list = []
        for rank, process in enumerate(self.processes):
            pipe = self.leader if rank == 0 else self.reports[rank - 1]
            if pipe in ready:
                try:
                    while pipe.poll(0):
                        messages.append(pipe.recv())
                except (EOFError, OSError):
                    pass  # its end closed: the sentinel tells the rest
            if process.sentinel in ready and rank not in self.ended and not process.is_alive():
                self.ended.add(rank)
                messages.append(Failure(rank, time.time(), _exit_summary(process.exitcode),
                                        exit_code=process.exitcode))
        return messages


def _exit_summary(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (SIGKILL often means the host ran out of memory)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"


def _first_cause(failures: list[Failure]) -> Failure:
    """The failure that caused the others: a rank killed by a signal, else the earliest report.

    The other ranks fail because of it (a closed connection in a collective), and later.
    """
    killed = [f for f in failures if f.exit_code is not None and f.exit_code < 0]
    reported = sorted((f for f in failures if f.exit_code is None), key=lambda f: f.at)
    return (killed or reported or failures)[0]


def _describe(failure: Failure, size: int) -> ScailError:
    """The error to raise for a rank's failure: its own typed error where it has one."""
    if isinstance(failure.error, ScailError):
        return failure.error
    if isinstance(failure.error, torch.OutOfMemoryError):
        return OutOfMemory(f"rank {failure.rank} of {size} ran out of GPU memory ({failure.summary}). Try fewer "
                           "frames per job (--max-frames 33), a smaller size, or --shard-weights to spread the "
                           "weights over the GPUs")
    what = failure.summary if failure.exit_code is not None else f"failed: {failure.summary}"
    return DeviceGroupError(f"rank {failure.rank} of {size} {what}; every rank was stopped (the next job starts "
                            "them again); its traceback, if any, is on stderr above")


def _stop(processes: list[multiprocessing.Process], graceful: bool) -> None:
    """End the processes: let them finish (graceful) for a while, then terminate, then kill."""
    if graceful:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(2.0)
        if process.is_alive():
            process.kill()
            process.join()
