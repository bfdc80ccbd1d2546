"""The job contract: what a generation needs, what it reports and what it returns.

The in-process runner, the HTTP client and the server all speak these dataclasses, so the
contract stays free of torch: clients build and check jobs without the backend installed.
``from_json`` validates every field and names the one that is wrong, because a job usually comes
from a file or a request that a person wrote.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from ..errors import InputError
from ..progress import Progress

SAMPLERS = ("unipc", "euler")
VARIANTS = ("scail", "scail2")
MODES = ("animation", "replacement")
# Phases of a generation, in order; progress events of a job carry one of them.
PHASES = ("load", "encode", "denoise", "decode", "write", "done")
# One window of the model: 81 frames (21 latent frames), as both releases were trained.
WINDOW_FRAMES = 81
# Speed modes (backend/speed.py; README "Speed modes"). Everything but the defaults is opt-in.
PRECISIONS = ("bf16", "fp8")
ATTENTIONS = ("auto", "sdpa", "sage")
VRAM_MODES = ("full", "24gb", "12gb")
SPEED_ENUMS = {"precision": PRECISIONS, "attention": ATTENTIONS, "vram": VRAM_MODES}


@dataclass
class JobInputs:
    """Files and text of one job. Paths are as the runner sees them (the server rewrites them)."""

    reference_image: str
    pose_video: str
    prompt: str = ""
    negative_prompt: str = ""
    # SCAIL-2 (required there, unused by SCAIL-Preview): each character painted in its colour on
    # black, in the reference image and in every frame of the driving video.
    reference_mask: str | None = None
    pose_mask: str | None = None


@dataclass
class JobSettings:
    """Sampling settings; the defaults are the official wan-branch defaults of SCAIL-Preview."""

    steps: int = 40
    cfg: float = 5.0
    shift: float = 3.0
    seed: int = 0
    sampler: str = "unipc"
    # Use at most this many frames of the pose video (None: all of them).
    max_frames: int | None = None
    # Output size; None picks 512 x 896 (height x width), 896 x 512 for a portrait reference.
    width: int | None = None
    height: int | None = None
    # None: taken from the checkpoint (a SCAIL-2 checkpoint has the mask embedding).
    variant: str | None = None
    mode: str = "animation"
    # Speed modes, all off by default (README "Speed modes"): fp8 linears, 8-bit attention,
    # TeaCache step skipping (a threshold; None = off), block offload for small GPUs, a LoRA file.
    precision: str = "bf16"
    attention: str = "auto"
    cache: float | None = None
    vram: str = "full"
    lora: str | None = None
    lora_strength: float = 1.0


@dataclass
class Job:
    inputs: JobInputs
    settings: JobSettings = field(default_factory=JobSettings)
    output: str = "out.mp4"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Job":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"job: not valid JSON ({exc}); write the job as a JSON object") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> "Job":
        if not isinstance(data, dict):
            raise InputError("job: expected a JSON object with 'inputs', 'settings' and 'output'")
        _reject_unknown(data, ("inputs", "settings", "output"), "job")
        if "inputs" not in data:
            raise InputError("job.inputs: missing; give at least reference_image and pose_video")
        inputs = _build(JobInputs, data["inputs"], "inputs")
        settings = _build(JobSettings, data.get("settings", {}), "settings")
        output = data.get("output", "out.mp4")
        if not isinstance(output, str) or not output:
            raise InputError("job.output: expected a non-empty path string")
        job = cls(inputs=inputs, settings=settings, output=output)
        job.validate()
        return job

    def validate(self) -> None:
        """Check values (not files): a bad value fails here, before any model is loaded."""
        i, s = self.inputs, self.settings
        for name in ("reference_image", "pose_video"):
            if not getattr(i, name):
                raise InputError(f"inputs.{name}: empty; give the path of the file")
        if not 1 <= s.steps <= 1000:
            raise InputError(f"settings.steps: {s.steps} is out of range; use 1 to 1000 (40 is the default)")
        if not 0.0 <= s.cfg <= 30.0:
            raise InputError(f"settings.cfg: {s.cfg} is out of range; use 0 to 30 (1 turns guidance off)")
        if not 0.0 < s.shift <= 100.0:
            raise InputError(f"settings.shift: {s.shift} must be above 0 (3 for 512p, 5 as in the paper)")
        if not 0 <= s.seed < 2**63:
            raise InputError(f"settings.seed: {s.seed} must be a non-negative integer below 2**63")
        if s.sampler not in SAMPLERS:
            raise InputError(f"settings.sampler: {s.sampler!r} is unknown; use one of {', '.join(SAMPLERS)}")
        if s.max_frames is not None and s.max_frames < 1:
            raise InputError(f"settings.max_frames: {s.max_frames} must be at least 1 (or null for all)")
        for name in ("width", "height"):
            value = getattr(s, name)
            if value is not None and (value < 32 or value % 32):
                raise InputError(f"settings.{name}: {value} must be a multiple of 32 (8x VAE, 2x2 patches, half-size pose)")
        if (s.width is None) != (s.height is None):
            raise InputError("settings.width/height: give both or neither")
        if s.variant is not None and s.variant not in VARIANTS:
            raise InputError(f"settings.variant: {s.variant!r} is unknown; use one of {', '.join(VARIANTS)}")
        if s.mode not in MODES:
            raise InputError(f"settings.mode: {s.mode!r} is unknown; use one of {', '.join(MODES)}")
        if s.mode == "replacement" and s.variant == "scail":
            raise InputError("settings.mode: replacement needs a SCAIL-2 checkpoint; use mode 'animation'")
        if s.precision not in PRECISIONS:
            raise InputError(f"settings.precision: {s.precision!r} is unknown; use bf16 (full quality) or fp8 "
                             "(half the weight memory, needs an Ada/Hopper GPU for speed)")
        if s.attention not in ATTENTIONS:
            raise InputError(f"settings.attention: {s.attention!r} is unknown; use one of {', '.join(ATTENTIONS)} "
                             "(auto: exact, fastest kernel; sage: 8-bit, needs the sageattention package on GPU)")
        if s.cache is not None and not 0.0 <= s.cache <= 1.0:
            raise InputError(f"settings.cache: {s.cache} is out of range; use a TeaCache threshold from 0 to 1 "
                             "(e.g. 0.1; higher skips more steps) or null to turn caching off")
        if s.vram not in VRAM_MODES:
            raise InputError(f"settings.vram: {s.vram!r} is unknown; use one of {', '.join(VRAM_MODES)} "
                             "(24gb/12gb keep the DiT blocks in CPU memory and stream them to the GPU)")
        if s.lora is not None and not s.lora:
            raise InputError("settings.lora: empty; give the path of a .safetensors LoRA or null for none")
        if not -4.0 <= s.lora_strength <= 4.0:
            raise InputError(f"settings.lora_strength: {s.lora_strength} is out of range; use -4 to 4 (1 = as trained)")


def progress_from_json(text: str) -> Progress:
    """A generation progress event sent as JSON (``json.dumps(progress.to_dict())``)."""
    event = _build(Progress, json.loads(text), "progress")
    if event.phase not in PHASES:
        raise InputError(f"progress.phase: {event.phase!r} is unknown; expected one of {', '.join(PHASES)}")
    return event


@dataclass(frozen=True)
class JobResult:
    output: str
    frames: int
    fps: float
    seconds: float
    width: int
    height: int
    seed: int
    # The speed modes the job ran with (Speed.describe), e.g. "precision=bf16 attention=auto cache=off ...".
    speed: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "JobResult":
        return _build(cls, json.loads(text), "result")


_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "str | None": (str, type(None)),
    "int | None": (int, type(None)), "float | None": (int, float, type(None)),
}


def _reject_unknown(data: dict, known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InputError(f"{where}.{unknown[0]}: unknown field; known fields are {', '.join(known)}")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object")
    specs = {f.name: f for f in fields(cls)}
    _reject_unknown(data, tuple(specs), where)
    values = {}
    for name, value in data.items():
        allowed = _TYPES[str(specs[name].type)]
        # bool is an int in Python; a JSON true for a number is a mistake, not a 1.
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise InputError(f"{where}.{name}: expected {specs[name].type}, got {json.dumps(value)}")
        values[name] = float(value) if str(specs[name].type) == "float" else value
    for name, spec in specs.items():
        if name not in values and spec.default is MISSING and spec.default_factory is MISSING:
            raise InputError(f"{where}.{name}: missing required field")
    return cls(**values)


def job_schema() -> dict[str, Any]:
    """JSON schema of a job, for the server's OpenAPI page and for client-side checks."""

    def props(cls: type) -> dict[str, Any]:
        out = {}
        for f in fields(cls):
            kind = {"str": "string", "int": "integer", "float": "number"}
            base = str(f.type).split(" | ")[0]
            schema: dict[str, Any] = {"type": kind[base]} if " | " not in str(f.type) else {
                "type": [kind[base], "null"]}
            if f.name == "sampler":
                schema["enum"] = list(SAMPLERS)
            elif f.name == "variant":
                schema["enum"] = [*VARIANTS, None]
            elif f.name == "mode":
                schema["enum"] = list(MODES)
            elif f.name in SPEED_ENUMS:
                schema["enum"] = list(SPEED_ENUMS[f.name])
            out[f.name] = schema
        return out

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "SCAIL generation job",
        "type": "object",
        "required": ["inputs"],
        "additionalProperties": False,
        "properties": {
            "inputs": {"type": "object", "properties": props(JobInputs), "additionalProperties": False,
                       "required": ["reference_image", "pose_video"]},
            "settings": {"type": "object", "properties": props(JobSettings), "additionalProperties": False},
            "output": {"type": "string"},
        },
    }
