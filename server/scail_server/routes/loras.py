"""``GET /v1/loras``: the LoRAs a job's ``settings.loras`` may name (the server's --lora-dir)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..loras import LoraList, list_loras

router = APIRouter(tags=["loras"])


@router.get("/loras", response_model=LoraList,
            summary="LoRA files of the server's folder by name and size; each entry of a job's settings.loras names one")
def loras(request: Request) -> LoraList:
    return LoraList(loras=list_loras(request.app.state.settings.lora_dir))
