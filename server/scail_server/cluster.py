"""Jobs on a Ray cluster: one long-lived actor per GPU (or GPU group) runs the shared runner.

``RayRunner`` has the ``LocalRunner``'s face (``submit`` -> ``JobHandle``, ``running``,
``loaded``, ``release``, ``close``), so the service, the storage states, the events and SSE stay
as they are. Behind it, one dispatcher thread per actor takes the next queued job when its actor is
idle, sends the job's input files to the actor as bytes (the server's data dir need not be shared),
mirrors the actor's progress into the local handle (a streaming generator) and writes the result
bytes atomically into the job's folder. Ray only schedules and reports faults; nothing here is a
scheduler of its own.

Faults: an actor (or its node) that dies mid-job raises ``RayActorError``; the job goes back to the
front of the queue once, for another actor when there is one, then fails with the reason. Ray
restarts the actor (``max_restarts``); a dispatcher whose actor stays unreachable gives it up and
the resource poll starts a new one. The poll also gives workers that join later their actors. A
cancel reaches the actor through a second actor thread (``max_concurrency=2``), so it is not
queued behind the running job.

Only ``scail serve --ray`` imports this module (and with it Ray).
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, WorkerCrashedError

from scail_blender.jobs.contract import Job, JobResult
from scail_blender.jobs.references import character_mask_files, extra_reference_files
from scail_blender.jobs.runner import JobHandle
from scail_blender.jobs.status import JobStatus, Listener
from scail_blender.errors import ScailError
from scail_blender.progress import Progress

from .settings import ClusterSettings
from .worker import INPUT_FIELDS, LORA_KEY, ScailWorker
from .storage import replace_atomically

log = logging.getLogger(__name__)

NAMESPACE = "scail"
MAX_TRIES = 2  # a job whose worker dies is run once more, then failed
ACTOR_RESTARTS = 3  # Ray restarts a dead actor this often before it is given up
UNREACHABLE_S = 120.0  # an actor not answering for this long is given up (the poll replaces it)
PING_S = 2.0
# What Ray raises for a lost actor or worker; the job did not fail, its worker did.
LOST = (RayActorError, WorkerCrashedError)


class ClusterError(ScailError):
    """The Ray cluster cannot be reached or cannot host the workers."""

    code = "cluster"


class WorkerLost(ScailError):
    """The Ray actors running a job died every time it was tried."""

    code = "worker_lost"


class RemoteJobError(ScailError):
    """A job's own failure on an actor, with the actor's stable code (``internal`` included)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


# The actor: lives in a Ray worker process ----------------------------------------------------


# The server's side (the actor is worker.py's ScailWorker) -----------------------------------


class RemoteHandle(JobHandle):
    """A job handle whose cancel also reaches the actor running it."""

    def __init__(self, job: Job, job_id: str | None = None) -> None:
        super().__init__(job, job_id)
        self.tries = 0
        self.avoid: str | None = None  # the actor it was lost on: another one takes it when it can
        self.actor: Any = None

    def cancel(self) -> None:
        super().cancel()
        self._stop_on_actor()

    def interrupt(self) -> None:
        super().interrupt()
        self._stop_on_actor()

    def _stop_on_actor(self) -> None:
        actor = self.actor
        if actor is not None:
            actor.cancel.remote(self.id)


@dataclass
class Slot:
    """One actor and the thread that feeds it."""

    name: str
    actor: Any
    ready: bool = False
    pid: int | None = None
    gone: bool = False
    busy: RemoteHandle | None = None
    thread: threading.Thread | None = field(default=None, repr=False)


def connect(address: str) -> None:
    """Join the cluster as a driver; the workers get this process's PYTHONPATH (the checkout).

    ``ray.init`` makes SIGTERM exit the process at once; the server's own handler is put back, so
    a SIGTERM stops it cleanly (its running jobs back in the queue) and ``close`` leaves the cluster."""
    env = {k: os.environ[k] for k in ("PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    on_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(address=address, namespace=NAMESPACE, runtime_env={"env_vars": env} if env else None,
                 log_to_driver=False)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        cause = f": {str(exc.__cause__).splitlines()[0]}" if exc.__cause__ else ""
        raise ClusterError(f"cannot join the Ray cluster at {address} ({exc}{cause}); start its head with `ray "
                           "start --head --port 6379`, give --ray HOST:6379 (or --ray auto on the head) and the "
                           "cluster's RAY_AUTH_TOKEN (docs/scale-out.md)") from None


class RayRunner:
    """Dispatches queued jobs to idle actors of a Ray cluster, in submission order."""

    def __init__(self, cluster: ClusterSettings, checkpoint: Path, device: str | None) -> None:
        self.cluster = cluster
        self.checkpoint = Path(checkpoint).resolve()  # every worker reads it at this path
        self.device = "ray"
        self._actor_device = "cuda" if cluster.gpus_per_actor > 0 else (device or "cpu")
        self._queue: collections.deque[RemoteHandle] = collections.deque()
        self._lock = threading.Condition()
        self._slots: list[Slot] = []
        self._count = 0
        self._warned = False
        self._closing = threading.Event()
        connect(cluster.address)
        self._actor_class = ray.remote(max_concurrency=2, max_restarts=ACTOR_RESTARTS)(ScailWorker)
        self._grow()
        self._poll = threading.Thread(target=self._watch, name="scail-ray-poll", daemon=True)
        self._poll.start()

    # The LocalRunner's face --------------------------------------------------------------------

    def submit(self, job: Job, job_id: str | None = None, listener: Listener | None = None) -> JobHandle:
        job.validate()
        handle = RemoteHandle(job, job_id)
        if listener is not None:
            handle.subscribe(listener)
        with self._lock:
            self._queue.append(handle)
            self._lock.notify_all()
        return handle

    @property
    def running(self) -> JobHandle | None:
        """The oldest running job (the health route shows one)."""
        with self._lock:
            busy = [slot.busy for slot in self._slots if slot.busy is not None]
        return min(busy, key=lambda h: h.status.created, default=None)

    @property
    def loaded(self) -> bool:
        with self._lock:
            return any(slot.ready for slot in self._slots)

    def release(self) -> bool:
        """Every idle actor frees its model now, the busy ones after their job."""
        with self._lock:
            actors = [slot.actor for slot in self._slots if slot.ready]
        try:
            return all(ray.get([actor.release.remote() for actor in actors], timeout=60))
        except (*LOST, GetTimeoutError):
            return False

    def stop(self) -> None:
        """The server stops: no queued job is dispatched any more and the running ones are interrupted
        (back to "queued"; the server's database keeps them for its next start)."""
        self._closing.set()
        with self._lock:
            busy = [slot.busy for slot in self._slots if slot.busy is not None]
            self._lock.notify_all()
        for handle in busy:
            handle.interrupt()

    def close(self, timeout: float | None = None) -> None:
        """Stop dispatching and leave the cluster; the actors (owned by this driver) end with it."""
        self._closing.set()
        with self._lock:
            self._lock.notify_all()
        ray.shutdown()

    # Actors ------------------------------------------------------------------------------------

    def _wanted(self) -> int:
        if self.cluster.actors is not None:
            return self.cluster.actors
        return int(ray.cluster_resources().get("GPU", 0) // self.cluster.gpus_per_actor)

    def _grow(self) -> None:
        """Start actors up to the wanted count (pending ones start when a worker with the resources joins)."""
        with self._lock:
            live = sum(1 for slot in self._slots if not slot.gone)
        missing = self._wanted() - live
        if missing > 0:
            log.info("starting %d Ray actors (%g CPU, %g GPU each)", missing, self.cluster.cpus_per_actor,
                     self.cluster.gpus_per_actor)
        elif live == 0 and not self._warned:
            self._warned = True
            log.warning("the Ray cluster has no GPUs yet: jobs wait until a GPU worker joins (`ray start --address "
                        "HEAD:6379` on it); on CPUs give --ray-actors N --ray-gpus-per-actor 0")
        for _ in range(missing):
            name = f"worker-{self._count}"
            self._count += 1
            actor = self._actor_class.options(num_cpus=self.cluster.cpus_per_actor,
                                              num_gpus=self.cluster.gpus_per_actor).remote(
                str(self.checkpoint), self._actor_device)
            slot = Slot(name, actor)
            slot.thread = threading.Thread(target=self._serve, args=(slot,), name=f"scail-ray-{name}", daemon=True)
            with self._lock:
                self._slots.append(slot)
            slot.thread.start()

    def _watch(self) -> None:
        while not self._closing.wait(self.cluster.poll_s):
            try:
                self._grow()
            except Exception:  # the cluster may be briefly unreachable; the next poll tries again
                log.exception("reading the Ray cluster's resources failed")

    def _reach(self, slot: Slot) -> bool:
        """Wait until the actor answers (it may be pending, starting or restarting); False to give it up."""
        since = time.monotonic()
        while not self._closing.is_set():
            try:
                where = ray.get(slot.actor.ping.remote(), timeout=PING_S * 30)
                if where["pid"] != slot.pid:  # started, or restarted by Ray
                    log.info("Ray actor %s ready: pid %s on node %s", slot.name, where["pid"], where["node"][:12])
                with self._lock:
                    slot.ready, slot.pid = True, where["pid"]
                return True
            except GetTimeoutError:
                continue  # pending: no worker has the resources yet
            except LOST as exc:
                with self._lock:
                    slot.ready = False
                if time.monotonic() - since > UNREACHABLE_S:
                    log.error("Ray actor %s is gone (%s); a new one replaces it", slot.name, exc)
                    return False
                time.sleep(PING_S)
        return False

    # Dispatching -------------------------------------------------------------------------------

    def _serve(self, slot: Slot) -> None:
        while self._reach(slot):
            handle = self._take(slot)
            if handle is None:
                break
            if not handle.start():
                continue  # cancelled while queued
            with self._lock:
                slot.busy = handle
            try:
                self._run(slot, handle)
            finally:
                with self._lock:
                    slot.busy = None
        with self._lock:
            slot.gone = True
            slot.ready = False
        if not self._closing.is_set():
            ray.kill(slot.actor, no_restart=True)

    def _take(self, slot: Slot) -> RemoteHandle | None:
        """The first queued job, skipping one lost on this actor while another actor is ready to take it."""
        with self._lock:
            while not self._closing.is_set():
                others = any(s.ready and s is not slot for s in self._slots)
                for handle in self._queue:
                    if handle.avoid != slot.name or not others:
                        self._queue.remove(handle)
                        return handle
                self._lock.wait(PING_S)  # also wakes to see another actor disappear
        return None

    def _run(self, slot: Slot, handle: RemoteHandle) -> None:
        handle.tries += 1
        inputs = handle.job.inputs
        paths = {name: path for name in INPUT_FIELDS if (path := getattr(inputs, name)) is not None}
        paths.update({LORA_KEY + name: path for name, path in inputs.lora_files.items()})
        paths.update(extra_reference_files(inputs))
        paths.update(character_mask_files(inputs))
        files = {name: (Path(path).name, Path(path).read_bytes()) for name, path in paths.items()}
        log.info("job %s started on Ray actor %s (try %d)", handle.id, slot.name, handle.tries)
        handle.actor = slot.actor
        if handle.cancel_event.is_set():  # a cancel that came before the actor was known
            slot.actor.cancel.remote(handle.id)
        try:
            stream = slot.actor.run.options(num_returns="streaming").remote(handle.id, handle.job.to_dict(), files)
            for ref in stream:
                status_dict, data = ray.get(ref)
                status = JobStatus.from_dict(status_dict)
                if not status.final:
                    if status.phase is not None:
                        handle.report(Progress(status.phase, status.step, status.total, status.message))
                    continue
                handle.actor = None
                self._finish(handle, status, data)
                return
            raise WorkerCrashedError()  # the stream ended without a final status
        except LOST as exc:
            handle.actor = None
            self._lost(slot, handle, exc)

    def _finish(self, handle: RemoteHandle, status: JobStatus, data: bytes | None) -> None:
        if status.state == "succeeded" and status.result is not None and data is not None:
            output = Path(handle.job.output or "")
            partial = output.with_name(f".{output.name}.partial")
            partial.write_bytes(data)
            replace_atomically(partial, output)
            handle.finish("succeeded", result=JobResult.from_dict({**status.result.to_dict(), "output": str(output)}))
        elif status.state == "cancelled" and handle.interrupted:
            handle.requeue()
        elif status.state == "cancelled":
            handle.finish("cancelled")
        else:
            error = status.error
            handle.finish("failed", error=RemoteJobError(error.message if error else "the job failed on its actor",
                                                         error.code if error else "internal"))

    def _lost(self, slot: Slot, handle: RemoteHandle, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no details'}"
        if handle.interrupted:  # the server stops and took its actors with it
            handle.requeue()
        elif handle.cancel_event.is_set():
            handle.finish("cancelled")
        elif handle.tries < MAX_TRIES and handle.requeue():
            log.warning("Ray actor %s died running job %s (%s); the job is queued again", slot.name, handle.id, reason)
            handle.avoid = slot.name
            with self._lock:
                self._queue.appendleft(handle)
                self._lock.notify_all()
        else:
            log.error("job %s lost its Ray actor %d times; failed (%s)", handle.id, handle.tries, reason)
            handle.finish("failed", error=WorkerLost(
                f"the Ray worker running this job died {handle.tries} times (last: {reason}); check the workers' "
                "memory and logs (`ray logs` on the head), then submit the job again"))
