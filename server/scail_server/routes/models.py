"""``/v1/models``: what the server runs, and freeing its memory between jobs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from ..schemas import ModelInfo

router = APIRouter(tags=["models"])


class Released(BaseModel):
    released: bool  # False: a job is running; the model is freed as soon as it ends
    model: ModelInfo


@router.get("/models", response_model=ModelInfo)
def model_info(request: Request) -> ModelInfo:
    return request.app.state.service.model_info()


@router.post("/models/release", response_model=Released)
def release(request: Request) -> Released:
    service = request.app.state.service
    released = service.runner.release()
    return Released(released=released, model=service.model_info())
