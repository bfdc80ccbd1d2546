"""``create_app(settings)``: the FastAPI app of API v1, one router per resource.

Settings are checked and the checkpoint is opened here, before anything listens, so a bad
setting stops ``scail serve`` with a message instead of a server that fails every job. The
runner, the storage and the job recovery start with the app (lifespan) and stop with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

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
        service.remove_expired()
        queued = service.recover()
        log.info("serving %s (%s) on %s; %d jobs queued from before", settings.checkpoint, variant, runner.device,
                 queued)
        upkeep = asyncio.create_task(_retention(service))
        try:
            yield
        finally:
            upkeep.cancel()
            service.shutdown()
            runner.close(timeout=0)
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


def checkpoint_variant(settings: Settings) -> str:
    """Open the checkpoint without reading its weights: a wrong folder fails before serving."""
    from scail_blender.engine.checkpoints.formats import open_checkpoint
    from scail_blender.engine.checkpoints.loading import detect_variant
    from scail_blender.engine.components import ComponentFiles

    ComponentFiles.locate(settings.checkpoint)
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


async def _retention(service: JobService) -> None:
    """Remove expired jobs every hour (start-up did it once already)."""
    while True:
        await asyncio.sleep(RETENTION_PERIOD_S)
        try:
            await run_in_threadpool(service.remove_expired)
        except Exception:
            log.exception("removing old jobs failed")
