"""The job contract: what a generation or an extraction needs, reports and returns.

The in-process runner, the HTTP client and the server all speak these dataclasses. They stay
plain (no pydantic, no torch) because Blender and the command line build and check jobs without
extra wheels; the server validates and documents the very same classes through pydantic, which
reads the ``Literal`` annotations as enumerations. ``validate`` holds the rules that one field's
type cannot say, so a bad value fails before any model is loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal, get_args

from ..errors import InputError, OverLimit
from ..pose.framing import MAX_SIDE, MODEL_MULTIPLE

Sampler = Literal["unipc", "euler"]
Variant = Literal["scail", "scail2"]
Mode = Literal["animation", "replacement"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)
VARIANTS: tuple[str, ...] = get_args(Variant)
MODES: tuple[str, ...] = get_args(Mode)
VARIANT_NAMES = {"scail": "SCAIL-Preview", "scail2": "SCAIL-2"}
# The model families a checkpoint can be (engine: multianimate.checkpoint.detect_model, from its
# tensors); each needs its own inputs (Job.check_model).
Model = Literal["scail", "scail2", "multianimate"]
MODELS: tuple[str, ...] = get_args(Model)
MODEL_NAMES = {**VARIANT_NAMES, "multianimate": "MultiAnimate"}
# MultiAnimate's extended checkpoint animates up to 7 characters (its standard one 3).
MAX_CHARACTERS = 7
# One window of the model: 81 frames (21 latent frames), as both releases were trained.
WINDOW_FRAMES = 81
# Speed modes (engine/speed.py; README "Speed modes"). Everything but the defaults is opt-in.
Precision = Literal["bf16", "fp8"]
Attention = Literal["auto", "sdpa", "sage"]
Vram = Literal["full", "24gb", "12gb"]
LoraMode = Literal["merge", "live"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
ATTENTIONS: tuple[str, ...] = get_args(Attention)
VRAM_MODES: tuple[str, ...] = get_args(Vram)
LORA_MODES: tuple[str, ...] = get_args(LoraMode)
# Limits that hold on any device (a server adds its own, from its device: README "Job server").
MAX_STEPS = 1000
# The longest file name a client may send (an upload's or a LoRA's): what common file systems take.
MAX_NAME_BYTES = 255


@dataclass(kw_only=True)
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
    # MultiAnimate (required there, unused by SCAIL): one binary mask video per character (white
    # inside, black outside), in the order that gives each character its identity slot, and the
    # skeleton render of the reference image. Not yet wired to the runner (engine only, issue 23).
    character_masks: list[str] | None = None
    reference_pose: str | None = None
    # The LoRA file as this process sees it, where settings.lora is only its name: a client sets it
    # to a file of its own to upload with the job; a server to the file it resolved the name to.
    lora_file: str | None = None


def setting(default: Any, doc: str, *, label: str = "", low: float | None = None, high: float | None = None,
            above: bool = False, limit: bool = False, unit: str = "", group: str = "sampling", off: str = "") -> Any:
    """A field of ``JobSettings`` with what every front end shows and checks: the command line's
    flags, the panel's properties and the server's schema are made from it, so a default, a range
    or a help text is changed here and nowhere else.

    ``low``/``high`` bound the value (``above``: strictly above ``low``); ``limit`` makes a value
    over ``high`` an ``OverLimit`` (a size the machine would not carry) rather than a mistake;
    ``off`` is the word the command line takes for None; ``group`` sorts the flags in --help.
    """
    return field(default=default, metadata={"doc": doc, "label": label, "low": low, "high": high, "above": above,
                                            "limit": limit, "unit": unit, "group": group, "off": off})


@dataclass(kw_only=True)
class JobSettings:
    """Sampling settings; the defaults are the official wan-branch defaults of SCAIL-Preview."""

    steps: int = setting(40, "denoising steps (40 is official)", label="Steps", low=1, high=MAX_STEPS, limit=True,
                         unit="steps")
    cfg: float = setting(5.0, "guidance scale; 1 turns it off", label="CFG", low=0.0, high=30.0)
    shift: float = setting(3.0, "schedule shift (3 for 512p, 5 as in the paper)", label="Shift", low=0.0, high=100.0,
                           above=True)
    seed: int = setting(0, "noise seed: the same seed gives the same video on any device", label="Seed", low=0,
                        high=2**63 - 1)
    sampler: Sampler = setting("unipc", "sampler", label="Sampler")
    max_frames: int | None = setting(None, "use at most this many pose frames (default: all of them)",
                                     label="Max Frames", low=1)
    # Output size in pixels, height then width; None picks 512 high x 896 wide, or 896 high x
    # 512 wide for a portrait reference. The command line takes both as --size HxW.
    height: int | None = setting(None, "output height in pixels, a multiple of 32", label="Height")
    width: int | None = setting(None, "output width in pixels, a multiple of 32", label="Width")
    variant: Variant | None = setting(None, "the checkpoint's model (default: read from the checkpoint: a SCAIL-2 "
                                            "one has the mask embedding)", label="Variant")
    mode: Mode = setting("animation", "SCAIL-2: animate the reference, or replace the person of the driving video",
                         label="Mode")
    # Speed modes, all off by default (README "Speed modes").
    precision: Precision = setting("bf16", "fp8: e4m3 linears in the DiT blocks, half the weight memory",
                                   label="Precision", group="speed")
    attention: Attention = setting("auto", "auto: exact, fastest kernel; sage: 8-bit (needs the sageattention "
                                           "package on a GPU)", label="Attention", group="speed")
    cache: float | None = setting(None, "TeaCache step skipping: a threshold such as 0.1 (higher skips more steps)",
                                  label="Step Cache", low=0.0, high=1.0, group="speed", off="off")
    vram: Vram = setting("full", "24gb/12gb: stream the DiT blocks from pinned CPU memory", label="VRAM",
                         group="speed")
    # A LoRA to merge: in this process the path of a .safetensors file (or the name of
    # inputs.lora_file); on a job server a name, never a path: one of its LoRAs (GET /v1/loras) or
    # the file uploaded with the job.
    lora: str | None = setting(None, "LoRA merged into the DiT: a .safetensors file here, a name on a server",
                               label="LoRA", group="speed")
    lora_strength: float = setting(1.0, "LoRA scale (1 = as trained)", label="LoRA Strength", low=-4.0, high=4.0,
                                   group="speed")
    lora_mode: LoraMode = setting("merge", "merge: the LoRA is added into the weights once (before any fp8 "
                                           "conversion), nothing per step; live: applied on the fly in each "
                                           "linear layer, base weights untouched (for fp8 weights), one low-rank "
                                           "product per layer and step", label="LoRA Mode", group="speed")
    compile: bool = setting(False, "torch.compile the DiT blocks: 1.16x per step on an H200 (1.28x with fp8) after "
                                   "a one-off compile of about 20 s; needs a C++ compiler on a CPU",
                            label="Compile", group="speed")


def setting_fields() -> dict[str, Any]:
    """The settings' fields by name, each with its ``metadata`` (doc, label, low, high, ...)."""
    return {f.name: f for f in fields(JobSettings)}


@dataclass(kw_only=True)
class Job:
    inputs: JobInputs
    settings: JobSettings = field(default_factory=JobSettings)
    output: str = "out.mp4"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """The inverse of ``to_dict`` for trusted data (types are the server's to check)."""
        job = cls(inputs=JobInputs(**data["inputs"]), settings=JobSettings(**data.get("settings", {})),
                  output=data.get("output", "out.mp4"))
        job.validate()
        return job

    def validate(self) -> None:
        """Check values (not files): a bad value fails here, before any model is loaded."""
        i, s = self.inputs, self.settings
        for name in ("reference_image", "pose_video"):
            if not getattr(i, name):
                raise InputError(f"inputs.{name}: empty; give the path of the file")
        _check_ranges(s)
        _one_of("sampler", s.sampler, SAMPLERS)
        _one_of("mode", s.mode, MODES)
        if s.variant is not None:
            _one_of("variant", s.variant, VARIANTS)
        for name in ("height", "width"):
            value = getattr(s, name)
            if value is not None and (value < MODEL_MULTIPLE or value % MODEL_MULTIPLE):
                raise InputError(f"settings.{name}: {value} must be a multiple of {MODEL_MULTIPLE} "
                                 "(8x VAE, 2x2 patches, half-size pose)")
            if value is not None and value > MAX_SIDE:
                raise OverLimit(f"settings.{name}: {value} pixels is over the limit; a side may be at most "
                                f"{MAX_SIDE} pixels (SCAIL was trained at 512x896)")
        if (s.height is None) != (s.width is None):
            raise InputError("settings.height/width: give both or neither (--size HxW, e.g. 512x896)")
        if s.mode == "replacement" and s.variant == "scail":
            raise InputError("settings.mode: replacement needs a SCAIL-2 checkpoint; use mode 'animation'")
        if s.precision not in PRECISIONS:
            raise InputError(f"settings.precision: {s.precision!r} is unknown; use bf16 (full quality) or fp8 "
                             "(half the weight memory, needs an Ada/Hopper GPU for speed)")
        if s.attention not in ATTENTIONS:
            raise InputError(f"settings.attention: {s.attention!r} is unknown; use one of {', '.join(ATTENTIONS)} "
                             "(auto: exact, fastest kernel; sage: 8-bit, needs the sageattention package on GPU)")
        if s.vram not in VRAM_MODES:
            raise InputError(f"settings.vram: {s.vram!r} is unknown; use one of {', '.join(VRAM_MODES)} "
                             "(24gb/12gb keep the DiT blocks in CPU memory and stream them to the GPU)")
        if s.lora is not None and not s.lora:
            raise InputError("settings.lora: empty; give the path of a .safetensors LoRA or null for none")


    def check_model(self, model: str) -> None:
        """The inputs and settings ``model`` needs (one of MODELS, read from the checkpoint's tensors),
        checked before the model loads: a wrong input fails in a second, not after minutes of loading."""
        _one_of("model", model, MODELS)
        i, s, name = self.inputs, self.settings, MODEL_NAMES[model]
        if s.variant is not None and s.variant != model:
            raise InputError(f"settings.variant is {s.variant} but the checkpoint is {name}; drop the variant "
                             "setting or use the matching checkpoint")
        multi_inputs = [n for n in ("character_masks", "reference_pose") if getattr(i, n)]
        if model != "multianimate" and multi_inputs:
            raise InputError(f"inputs.{', inputs.'.join(multi_inputs)}: MultiAnimate inputs, but the checkpoint is "
                             f"{name}; drop them or use a MultiAnimate checkpoint")
        if model == "scail2" and not (i.reference_mask and i.pose_mask):
            raise InputError("SCAIL-2 needs inputs.reference_mask and inputs.pose_mask (--ref-mask, --pose-mask): "
                             "each character in its identity colour; scail render-pose --mask-out writes the driving mask")
        if model != "multianimate":
            return
        masks = i.character_masks or []
        if not 1 <= len(masks) <= MAX_CHARACTERS or not all(masks):
            raise InputError(f"MultiAnimate needs inputs.character_masks: one mask video per character (1 to "
                             f"{MAX_CHARACTERS}), white inside; {len(masks)} given" + (", some empty" if masks else ""))
        if not i.reference_pose:
            raise InputError("MultiAnimate needs inputs.reference_pose: the skeleton render of the reference image")
        settings = [f"{n} {v}" for n, v, off in (("mode", s.mode, "animation"), ("cache", s.cache, None),
                                                  ("lora", s.lora, None)) if v != off and v]
        if settings:
            raise InputError(f"settings {', '.join(settings)}: not available with MultiAnimate (animation only, "
                             "no step cache, no extra LoRA)")


def _check_ranges(s: JobSettings) -> None:
    """Every bounded setting against the bounds its field declares."""
    for name, f in setting_fields().items():
        m, value = f.metadata, getattr(s, name)
        if value is None or (m["low"] is None and m["high"] is None):
            continue
        low, high = m["low"], m["high"]
        if m["limit"] and value > high:
            raise OverLimit(f"settings.{name}: {value} is over the limit; at most {high:g} {m['unit']} ({m['doc']})")
        too_low = low is not None and (value <= low if m["above"] else value < low)
        if too_low or (high is not None and value > high):
            span = f"above {low:g}" if m["above"] else f"from {low:g}"
            span += f" to {high:g}" if high is not None else ""
            none = " or null for none" if f.type.endswith("| None") else ""
            raise InputError(f"settings.{name}: {value} is out of range; use a value {span}{none} ({m['doc']})")


@dataclass(frozen=True, kw_only=True)
class JobResult:
    output: str
    frames: int
    fps: float
    seconds: float
    height: int
    width: int
    seed: int
    # The speed modes the job ran with (Speed.describe), e.g. "precision=bf16 attention=auto cache=off ...".
    speed: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobResult:
        return cls(**data)


@dataclass(kw_only=True)
class ExtractSettings:
    """``scail extract``'s options; the defaults are the official pipeline's (no smoothing)."""

    people: int | None = None  # keep the N people seen longest; None keeps all
    smooth: bool = False       # One-Euro filter
    device: str = "auto"       # auto, cpu, cuda or cuda:N (the server puts "auto" on its own device)
    full_frame: bool = False   # the whole frame at its size instead of SCAIL-Pose's 512x896 crop


@dataclass(kw_only=True)
class ExtractJob:
    """A video to a motion .npz, queued on the same runner as generation jobs.

    ``kind`` tells the two apart in stored records; ``weights`` is the pose weights folder as the
    runner sees it (None: $SCAIL_POSE_WEIGHTS), never a client's choice on the server.
    """

    kind: ClassVar[str] = "extract"
    video: str
    align_ref: str | None = None
    settings: ExtractSettings = field(default_factory=ExtractSettings)
    weights: str | None = None
    output: str = "motion.npz"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractJob:
        job = cls(video=data["video"], align_ref=data.get("align_ref"),
                  settings=ExtractSettings(**data.get("settings", {})), weights=data.get("weights"),
                  output=data.get("output", "motion.npz"))
        job.validate()
        return job

    def validate(self) -> None:
        s = self.settings
        if not self.video:
            raise InputError("video: empty; give the path of the driving video (mp4 or a folder of PNG frames)")
        if s.people is not None and s.people < 1:
            raise InputError(f"settings.people: {s.people} must be at least 1 (or null to keep everyone)")
        if not (s.device in ("auto", "cpu", "cuda") or s.device.startswith("cuda:") and s.device[5:].isdigit()):
            raise InputError(f"settings.device: {s.device!r} is unknown; use auto, cpu, cuda or cuda:N")
        if not self.output.endswith(".npz"):
            raise InputError(f"output {self.output}: the motion is written as .npz")


@dataclass(frozen=True, kw_only=True)
class ExtractResult:
    output: str  # the motion .npz
    frames: int
    people: int
    fps: float
    seconds: float
    notes: list[str] = field(default_factory=list)  # what the extraction assumed or did (tracking, camera)
    kind: Literal["extract"] = "extract"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


AnyJob = Job | ExtractJob
AnyResult = JobResult | ExtractResult


def job_from_dict(data: dict[str, Any]) -> AnyJob:
    """A stored job of either kind (records written before extraction jobs have no ``kind``)."""
    return ExtractJob.from_dict(data) if data.get("kind") == ExtractJob.kind else Job.from_dict(data)


def result_from_dict(data: dict[str, Any]) -> AnyResult:
    if data.get("kind") == "extract":
        return ExtractResult(**{**data, "notes": list(data.get("notes", []))})
    return JobResult.from_dict(data)


def name_problem(name: str) -> str | None:
    """Why ``name`` is no plain file name, or None. The one rule for the names a client sends a job
    server (its uploads' file names, LoRA names): no folder, drive, hidden or parent part, no NUL,
    at most ``MAX_NAME_BYTES`` bytes, so a name can never point anywhere but where the server puts it."""
    if not name:
        return "is empty"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return f"is {size} bytes long; names may have at most {MAX_NAME_BYTES} bytes"
    if "/" in name or "\\" in name or ":" in name or "\x00" in name or name.startswith("."):
        return "has a folder, drive or hidden part in it"
    return None


def shown_name(name: str) -> str:
    """A name as a message quotes it: a long one cut to its first 40 characters."""
    return repr(name if len(name) <= 40 else name[:40] + "...")


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"settings.{name}: {value!r} is unknown; use one of {', '.join(allowed)}")
