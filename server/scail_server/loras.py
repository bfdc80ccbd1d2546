"""LoRAs on the server: named files of the folder its operator chose, or a file uploaded with the job.

A client names a LoRA and never gives a path: the name passes the same rule as upload file names
(``jobs.name_problem``) before anything on disk is looked at, and it is then looked up among the
folder's listing only, so no request can make the server open, or learn of, any other file. The
resolved path lives only in this process (``JobInputs.lora_file``); views and results show the name.
Every LoRA's safetensors header is read before the job is queued, so a file that is no LoRA fails
at once instead of after the model has loaded.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pydantic

from scail_blender.jobs.contract import name_problem, shown_name

from .errors import ApiError

SUFFIX = ".safetensors"
UPLOADED = "lora"  # the form field (and stored file name) of an uploaded LoRA
# safetensors refuses headers over 100 MB itself; a LoRA's is a few hundred kB.
MAX_HEADER_BYTES = 100 * 2**20
HOW = f"give the name of one of this server's LoRAs (GET /v1/loras lists them) or upload the file with the job as '{UPLOADED}'"


class LoraFile(pydantic.BaseModel):
    name: str
    size: int = pydantic.Field(description="bytes")


class LoraList(pydantic.BaseModel):
    loras: list[LoraFile]


def list_loras(folder: Path | None) -> list[LoraFile]:
    """The .safetensors files directly in ``folder`` whose names a client may send, by name."""
    if folder is None:
        return []
    try:
        entries = sorted(folder.iterdir())
    except OSError:  # the folder went away after start-up: nothing to offer
        return []
    return [LoraFile(name=p.name, size=p.stat().st_size) for p in entries
            if p.suffix == SUFFIX and name_problem(p.name) is None and p.is_file()]


def job_lora(name: str | None, uploaded: Path | None, folder: Path | None) -> tuple[str | None, Path | None]:
    """The job's LoRA as (name, file): the uploaded file (its name: ``name`` or the field's), else
    ``name`` looked up in ``folder``; (None, None) without one. Refusals are ``ApiError`` 400."""
    if name is not None and name_problem(name) is not None:
        raise ApiError(400, "invalid_lora", f"settings.lora {shown_name(name)} {name_problem(name)}; {HOW}")
    if uploaded is not None:
        check_safetensors(uploaded, "the uploaded LoRA")
        return name or UPLOADED, uploaded
    if name is None:
        return None, None
    if folder is None:
        raise ApiError(400, "invalid_lora", "this server has no LoRA folder (its operator starts it with --lora-dir "
                       f"DIR); upload the LoRA file with the job as '{UPLOADED}'")
    if name not in {lora.name for lora in list_loras(folder)}:
        raise ApiError(400, "invalid_lora", f"this server has no LoRA named {shown_name(name)}; {HOW}")
    path = folder / name
    check_safetensors(path, f"the server's LoRA {name!r}")
    return name, path


def check_safetensors(path: Path, what: str) -> None:
    """Refuse a file that is no safetensors file: its 8-byte header length, the JSON header and every
    tensor's byte range inside the file are checked (reading the header only)."""
    def refuse(reason: str) -> ApiError:
        return ApiError(400, "invalid_lora", f"{what} is not a .safetensors file ({reason}); send a LoRA saved as "
                        "safetensors (kohya, diffusers or lightx2v keys)")

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise refuse(f"{size} bytes, too short for a header")
        length = struct.unpack("<Q", head)[0]
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise refuse(f"its header claims {length} bytes of a {size}-byte file")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise refuse("its header is not JSON") from None
    if not isinstance(header, dict):
        raise refuse("its header is not a JSON object")
    tensors = {key: value for key, value in header.items() if key != "__metadata__"}
    if not tensors:
        raise refuse("it holds no tensors")
    data = size - 8 - length
    for key, entry in tensors.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data and isinstance(entry.get("dtype"), str)
                and isinstance(entry.get("shape"), list)):
            raise refuse(f"tensor {shown_name(key)} lies outside the file or lacks dtype, shape or data_offsets")
