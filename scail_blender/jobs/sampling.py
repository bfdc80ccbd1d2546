"""Sampling values by model and by preset: what a job's unset steps, CFG, shift and sampler become.

A job leaves these four unset (None) unless its user chose them; the runner's pipeline fills them
with the official values of the checkpoint's model (``resolve_settings``) once the checkpoint has
said which model it is. Presets (``--preset``, the panel's menu) set values that belong together,
such as a distillation LoRA's; what a preset does not set stays the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .contract import JobSettings, setting_fields


@dataclass(frozen=True)
class Preset:
    """Sampling values that belong together (a distillation LoRA is trained for its own steps,
    shift and CFG): offered by name in the command line (--preset), the panel and the README.
    ``values`` holds what it sets; the rest stay the model's (``preset_values`` gives all)."""

    label: str
    doc: str
    values: dict[str, Any] = field(default_factory=dict)


# Each model's official sampling, for the settings a job leaves unset (None): SCAIL's wan-branch
# values (both releases) and MultiAnimate's inference scripts'.
MODEL_SETTINGS = ("steps", "cfg", "shift", "sampler")
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "scail": {"steps": 40, "cfg": 5.0, "shift": 3.0, "sampler": "unipc"},
    "scail2": {"steps": 40, "cfg": 5.0, "shift": 3.0, "sampler": "unipc"},
    "multianimate": {"steps": 50, "cfg": 1.5, "shift": 5.0, "sampler": "euler"},
}


def resolve_settings(settings: JobSettings, model: str) -> JobSettings:
    """``settings`` with what it leaves unset taken from ``model``'s official sampling."""
    return replace(settings, **{k: v for k, v in MODEL_DEFAULTS[model].items() if getattr(settings, k) is None})


def default_setting(name: str, model: str = "scail") -> Any:
    """What ``name`` is when a job leaves it unset: its field's default, or ``model``'s value for
    the model-dependent ones (a panel property needs a value; SCAIL's is the product's default)."""
    return MODEL_DEFAULTS[model].get(name, setting_fields()[name].default)


# Sampler presets: "default" is each model's official sampling (nothing set); "distill" what
# the step-distillation LoRA is run with (SCAIL-2 wan branch: 8 steps, shift 1, CFG 1).
PRESET_SETTINGS = ("steps", "shift", "cfg")
PRESETS: dict[str, Preset] = {
    "default": Preset("Default (official)", "the official sampling, without a distillation LoRA"),
    "distill": Preset("Distill (lightx2v 4/8-step LoRA)", "for a step-distillation LoRA (lightx2v's, as the "
                      "SCAIL-2 release runs it); CFG 1 turns guidance off: one pass per step",
                      {"steps": 8, "shift": 1.0, "cfg": 1.0}),
}


def preset_values(name: str, model: str = "scail") -> dict[str, Any]:
    """Every setting a preset fills (``PRESET_SETTINGS``), by name: its own values, else ``model``'s."""
    return {key: PRESETS[name].values.get(key, default_setting(key, model)) for key in PRESET_SETTINGS}


def describe_preset(name: str) -> str:
    """``steps 8, shift 1, cfg 1``: what a preset sets, as --help, the panel and the README say it."""
    return ", ".join(f"{key} {value:g}" for key, value in preset_values(name).items())
