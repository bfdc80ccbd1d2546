"""``create_app(settings)``: the FastAPI app of API v1, one router per resource; ``serve(app)``
runs it with uvicorn.

Settings are checked and the checkpoint is opened here, before anything listens, so a bad
setting stops ``scail serve`` with a message instead of a server that fails every job. The
runner, the storage and the job recovery start with the app (lifespan) and stop with it.

A stop (SIGTERM, Ctrl-C) begins before uvicorn waits for open connections: followers hold an
event stream open for as long as their job runs, so the streams are ended first (with a last
``stopping`` event) and the running job is put back in the queue, and the process exits within
seconds instead of when the job is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import uvicorn
from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from scail_blender.engine import load_pipeline
from scail_blender.jobs.runner import LocalRunner

from .auth import refuse_web_pages, require_token
from .errors import ERROR_SCHEMA, install_handlers
from .routes import health, jobs, loras, models
from .service import JobService
from .settings import Settings
from .storage import Storage

if TYPE_CHECKING:
    from .cluster import RayRunner

log = logging.getLogger(__name__)

VERSION = "1"
RETENTION_PERIOD_S = 3600.0
# How long a stop waits for the running job to reach the end of its step (the database already
# has it queued again, so a longer step is simply cut off), and for requests other than event
# streams (an upload) to finish.
STOP_WAIT_S = 5.0
# How often statuses that a full disk refused are tried again when nothing else writes.
WRITE_AGAIN_S = 5.0


def create_app(settings: Settings) -> FastAPI:
    settings.check()
    variant = checkpoint_variant(settings)
    device = settings.device if settings.ray is not None else settings.device or _default_device()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = Storage(settings.data_dir)
        runner = _runner(settings, device)
        service = JobService(settings, storage, runner, variant)
        app.state.service = service
        app.state.stopping = asyncio.Event()  # set: every event stream ends with a "stopping" event
        service.remove_expired()
        queued = service.recover()
        log.info("serving %s (%s) on %s; %d jobs queued from before", settings.checkpoint, variant, runner.device,
                 queued)
        upkeep = [  # expired jobs every hour (start-up did it once already); statuses a full disk refused
            asyncio.create_task(_every(RETENTION_PERIOD_S, service.remove_expired, "removing old jobs")),
            asyncio.create_task(_every(WRITE_AGAIN_S, storage.flush, "writing job statuses")),
        ]
        try:
            yield
        finally:
            for task in upkeep:
                task.cancel()
            app.state.stopping.set()
            service.stop()  # done already when a signal stopped the server (see ``serve``)
            await run_in_threadpool(runner.close, STOP_WAIT_S)
            storage.close()

    app = FastAPI(title="SCAIL job server", version=VERSION, lifespan=lifespan,
                  description="Queue SCAIL character-animation jobs on one GPU: upload a reference image and a "
                              "pose video, follow the progress, download the mp4. Errors are "
                              '`{"error": {"code", "message"}}` with stable codes.',
                  responses={"4XX": {"description": "error", "content": {"application/json": {"schema": ERROR_SCHEMA}}}})
    app.state.settings = settings
    install_handlers(app)
    secured = [Depends(refuse_web_pages), Depends(require_token)]
    app.include_router(health.router, prefix="/v1", dependencies=secured)
    app.include_router(jobs.router, prefix="/v1", dependencies=secured)
    app.include_router(models.router, prefix="/v1", dependencies=secured)
    app.include_router(loras.router, prefix="/v1", dependencies=secured)
    return app


def serve(app: FastAPI, settings: Settings) -> None:
    """Run ``app`` with uvicorn until SIGTERM or Ctrl-C, then stop cleanly within seconds."""
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info", access_log=False,
                            timeout_graceful_shutdown=STOP_WAIT_S)
    try:
        _StoppingServer(config, app).run()
    except KeyboardInterrupt:  # uvicorn raises the signal again once it has stopped: the stop is done
        pass


class _StoppingServer(uvicorn.Server):
    """uvicorn's server, which first ends what would keep it waiting: uvicorn's own stop waits for
    every open response to end before the app hears of the stop, and an event stream ends only
    with its job."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await begin_stop(self._app)
        await super().shutdown(sockets)


async def begin_stop(app: FastAPI) -> None:
    """End every event stream (with a "stopping" event) and put the running job back in the queue."""
    stopping: asyncio.Event | None = getattr(app.state, "stopping", None)
    if stopping is None:  # the app never started
        return
    log.info("stopping: ending event streams, interrupting the running job")
    stopping.set()
    await run_in_threadpool(app.state.service.stop)


def checkpoint_variant(settings: Settings) -> str:
    """Open the checkpoint without reading its weights: a wrong folder fails before serving."""
    from scail_blender.engine.checkpoints.formats import find_checkpoint_file, open_checkpoint
    from scail_blender.engine.checkpoints.loading import detect_variant
    from scail_blender.engine.components import ComponentFiles
    from scail_blender.engine.multianimate.checkpoint import open_multianimate
    from scail_blender.jobs.weights.identify import is_multianimate_folder
    from scail_blender.engine.multianimate.jobs import find_wan_base

    if is_multianimate_folder(settings.checkpoint):  # its base folder beside it
        open_multianimate(settings.checkpoint)
        find_wan_base(settings.checkpoint)
        return "multianimate"
    # a release folder, or a DiT file with its components beside it or in its ComfyUI models tree
    ComponentFiles.for_checkpoint(settings.checkpoint, find_checkpoint_file(settings.checkpoint))
    return detect_variant(open_checkpoint(settings.checkpoint).shapes)


def _runner(settings: Settings, device: str | None) -> LocalRunner | RayRunner:
    """This process's device, or the actors of a Ray cluster (only then is Ray imported)."""
    if settings.ray is None:
        return LocalRunner(settings.checkpoint, device, pipeline_factory=load_pipeline)
    from .cluster import RayRunner

    return RayRunner(settings.ray, settings.checkpoint, device)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


async def _every(seconds: float, work: Callable[[], object], what: str) -> None:
    """Run ``work`` in a worker thread every ``seconds`` for the life of the app; a failure is
    logged and the next round comes all the same."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await run_in_threadpool(work)
        except Exception:
            log.exception("%s failed", what)
