"""``GET /v1/health``: answers while the worker thread computes.

A plain (threadpool) route: it reads the queue under the service's lock, which the worker holds
while it writes a status to disk, and that wait must not stall the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    service = request.app.state.service
    running = service.runner.running
    return Health(ok=True, version=request.app.version, queued=service.queued(),
                  running=None if running is None else running.id)
