"""A job's LoRA stack: the entries, their rules, and how jobs written before stacks are read.

A stack is a list of ``LoraSpec`` (name, strength) applied in order. Jobs and settings written when
a job had one LoRA (settings ``lora`` and ``lora_strength``, inputs ``lora_file``) are read through
``migrate_job``/``migrate_settings`` as a stack of one: there is one way a job carries LoRAs, and
old records are turned into it where they are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PureWindowsPath
from typing import Any

from ..errors import InputError

# LoRAs in one job's stack, and the strength each may have (1 = as trained; negative subtracts it).
MAX_LORAS = 8
LORA_STRENGTH = (-4.0, 4.0)
# The form field of the stack's N-th LoRA when its file is uploaded with the job: lora_0, lora_1, ...
UPLOAD_FIELD = "lora_"


@dataclass(kw_only=True)
class LoraSpec:
    """One LoRA of a job's stack: in this process the path of a .safetensors file (or a key of
    ``JobInputs.lora_files``); on a job server a name, never a path (GET /v1/loras, or a file uploaded
    with the job)."""

    name: str
    strength: float = 1.0

    def describe(self) -> str:
        """``name@strength`` with only the file's name, as logs, results and job lists show it."""
        return f"{PureWindowsPath(self.name).name}@{self.strength:g}"


def describe_stack(loras: list[LoraSpec]) -> str:
    """``a.safetensors@1+b.safetensors@0.5``, or ``none``: what logs, results and job lists show."""
    return "+".join(spec.describe() for spec in loras) or "none"


def check_loras(loras: list[LoraSpec]) -> None:
    """The stack's length, names and strengths (the files are the runner's or the server's to check)."""
    if len(loras) > MAX_LORAS:
        raise InputError(f"settings.loras: {len(loras)} LoRAs; a job takes at most {MAX_LORAS}")
    seen: set[str] = set()
    for i, spec in enumerate(loras):
        if not spec.name:
            raise InputError(f"settings.loras[{i}].name: empty; give the path of a .safetensors LoRA (a name on a server)")
        if spec.name in seen:
            raise InputError(f"settings.loras: {spec.name!r} comes twice; give it once with the sum of "
                             "the strengths")
        seen.add(spec.name)
        low, high = LORA_STRENGTH
        if not low <= spec.strength <= high:
            raise InputError(f"settings.loras[{i}].strength: {spec.strength:g} is out of range; use a value from "
                             f"{low:g} to {high:g} (1 = as trained)")


def migrate_job(inputs: dict[str, Any], settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A job's inputs and settings as this version reads them: a job written before LoRA stacks
    (settings ``lora``/``lora_strength``, inputs ``lora_file``) becomes a stack of one."""
    inputs, settings = dict(inputs), migrate_settings(settings)
    old_file = inputs.pop("lora_file", None)
    if old_file is not None and settings["loras"]:
        inputs["lora_files"] = {settings["loras"][0].name: old_file}
    return inputs, settings


def migrate_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings with ``loras`` as a list of ``LoraSpec``: an old single ``lora`` (and its
    ``lora_strength``) becomes a stack of one; giving both forms is refused. An old bool
    ``compile`` becomes "on" or "off"."""
    settings = dict(settings)
    old = {key: settings.pop(key) for key in ("lora", "lora_strength") if key in settings}
    stack = [spec if isinstance(spec, LoraSpec) else LoraSpec(**spec) for spec in settings.get("loras", [])]
    if old:
        if stack:
            raise InputError("settings: give either loras (the stack) or the old lora/lora_strength, not both")
        if old.get("lora") is not None:
            stack = [LoraSpec(name=old["lora"], strength=old.get("lora_strength", 1.0))]
    settings["loras"] = stack
    if isinstance(settings.get("compile"), bool):  # written before compile had "auto"
        settings["compile"] = "on" if settings["compile"] else "off"
    return settings
