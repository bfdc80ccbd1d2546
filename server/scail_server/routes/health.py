"""``GET /v1/health``: answers from the event loop while the worker thread computes."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health(request: Request) -> Health:
    service = request.app.state.service
    running = service.runner.running
    return Health(ok=True, version=request.app.version, queued=service.queued(),
                  running=None if running is None else running.id)
