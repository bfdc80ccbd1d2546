"""``GET /v1/loras``: the LoRAs a job may name in ``settings.lora`` (the server's --lora-dir)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..loras import LoraList, list_loras

router = APIRouter(tags=["loras"])


@router.get("/loras", response_model=LoraList,
            summary="LoRA files of the server's folder by name and size; a job names one in settings.lora")
def loras(request: Request) -> LoraList:
    return LoraList(loras=list_loras(request.app.state.settings.lora_dir))
