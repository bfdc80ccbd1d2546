"""LoRAs on the server: named files of the folder its operator chose, or a file uploaded with the job.

A job carries a stack of LoRAs (``settings.loras``). A client names each and never gives a path:
every name passes the same rule as upload file names (``jobs.name_problem``) before anything on
disk is looked at, and is then looked up among the folder's listing only, so no request can make
the server open, or learn of, any other file. The stack's N-th LoRA may instead come with the job
as the file field ``lora_N``. Resolved paths live only in this process (``JobInputs.lora_files``);
views and results show the names. Every LoRA's safetensors header is read before the job is
queued, so a file that is no LoRA fails at once instead of after the model has loaded.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pydantic

from scail_blender.jobs.contract import name_problem, shown_name
from scail_blender.jobs.loras import MAX_LORAS, UPLOAD_FIELD, LoraSpec

from .errors import ApiError

SUFFIX = ".safetensors"
# The form fields (and stored file names) of uploaded LoRAs: lora_0 for the stack's first, ...
UPLOAD_FIELDS = tuple(f"{UPLOAD_FIELD}{index}" for index in range(MAX_LORAS))
# safetensors refuses headers over 100 MB itself; a LoRA's is a few hundred kB.
MAX_HEADER_BYTES = 100 * 2**20
HOW = ("give the name of one of this server's LoRAs (GET /v1/loras lists them) or upload the file with the job "
       f"as '{UPLOAD_FIELD}N' (N: its place in settings.loras, from 0)")


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


def job_loras(loras: list[LoraSpec], files: dict[str, Path], folder: Path | None) -> dict[str, str]:
    """The file of each LoRA of the stack by name: the uploaded ``lora_N`` of its place, else its
    name looked up in ``folder``. Refusals are ``ApiError`` 400 ``invalid_lora`` naming the entry."""
    stray = sorted(name for name in files if name in UPLOAD_FIELDS and int(name[len(UPLOAD_FIELD):]) >= len(loras))
    if stray:
        raise ApiError(400, "invalid_lora", f"the file '{stray[0]}' was uploaded but settings.loras has "
                       f"{len(loras)} entries; send '{UPLOAD_FIELD}N' for the N-th LoRA of the stack (from 0)")
    resolved: dict[str, str] = {}
    for index, spec in enumerate(loras):
        where = f"settings.loras[{index}] {shown_name(spec.name)}"
        if name_problem(spec.name) is not None:
            raise ApiError(400, "invalid_lora", f"{where} {name_problem(spec.name)}; {HOW}")
        uploaded = files.get(f"{UPLOAD_FIELD}{index}")
        if uploaded is not None:
            check_safetensors(uploaded, f"the uploaded LoRA {where}")
            resolved[spec.name] = str(uploaded)
            continue
        if folder is None:
            raise ApiError(400, "invalid_lora", f"{where}: this server has no LoRA folder (its operator starts it "
                           f"with --lora-dir DIR); upload the file with the job as '{UPLOAD_FIELD}{index}'")
        if spec.name not in {lora.name for lora in list_loras(folder)}:
            raise ApiError(400, "invalid_lora", f"{where}: this server has no LoRA of that name; {HOW}")
        check_safetensors(folder / spec.name, f"the server's LoRA {where}")
        resolved[spec.name] = str(folder / spec.name)
    return resolved


def check_safetensors(path: Path, what: str) -> None:
    """Refuse a file that is no safetensors file: its 8-byte header length, the JSON header and every
    tensor's byte range inside the file are checked (reading the header only)."""
    def refuse(reason: str) -> ApiError:
        return ApiError(400, "invalid_lora", f"{what} is not a .safetensors file ({reason}); send a LoRA saved as "
                        "safetensors (kohya, diffusers/PEFT, lightx2v or ComfyUI keys)")

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
