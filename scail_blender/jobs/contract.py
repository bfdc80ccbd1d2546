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
from .loras import LoraSpec, check_loras, migrate_job

Sampler = Literal["unipc", "euler"]
Variant = Literal["scail", "scail2"]
Mode = Literal["animation", "replacement"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)
VARIANTS: tuple[str, ...] = get_args(Variant)
MODES: tuple[str, ...] = get_args(Mode)
VARIANT_NAMES = {"scail": "SCAIL-Preview", "scail2": "SCAIL-2"}
# The model families a checkpoint can be (engine: multianimate.checkpoint.detect_model, from its
# tensors); each needs its own inputs (jobs/model_inputs.py).
Model = Literal["scail", "scail2", "multianimate"]
MODELS: tuple[str, ...] = get_args(Model)
MODEL_NAMES = {**VARIANT_NAMES, "multianimate": "MultiAnimate"}
# MultiAnimate's extended checkpoint animates up to 7 characters (its standard one 3).
MAX_CHARACTERS = 7
# One window of the model: 81 frames (21 latent frames), as both releases were trained.
WINDOW_FRAMES = 81
# Speed modes (engine/speed.py; README "Speed modes"). Everything but the defaults is opt-in.
Precision = Literal["bf16", "fp8"]
Attention = Literal["auto", "sdpa", "fa4", "sage"]
Compile = Literal["auto", "on", "off"]
Vram = Literal["full", "24gb", "12gb"]
LoraMode = Literal["merge", "live"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
ATTENTIONS: tuple[str, ...] = get_args(Attention)
VRAM_MODES: tuple[str, ...] = get_args(Vram)
LORA_MODES: tuple[str, ...] = get_args(LoraMode)
COMPILES: tuple[str, ...] = get_args(Compile)
# Limits that hold on any device (a server adds its own, from its device: README "Job server").
MAX_STEPS = 1000
# Extra reference views per job: each costs the tokens of one more reference image.
MAX_EXTRA_REFERENCES = 8
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
    # skeleton render of the reference image (engine/multianimate/jobs.py reads them).
    character_masks: list[str] | None = None
    reference_pose: str | None = None
    # SCAIL-2 extra reference views (front, side, back...) of the same characters, each with its
    # reference mask in the same colours, in pairs: extra_references[k] goes with
    # extra_reference_masks[k].
    extra_references: list[str] = field(default_factory=list)
    extra_reference_masks: list[str] = field(default_factory=list)
    # The file of each LoRA of settings.loras whose name is not its path here, by name: a client's
    # files to upload with the job; on a server the files it resolved the names to.
    lora_files: dict[str, str] = field(default_factory=dict)


def setting(default: Any, doc: str, *, label: str = "", low: float | None = None, high: float | None = None,
            above: bool = False, limit: bool = False, unit: str = "", group: str = "sampling", off: str = "") -> Any:
    """A field of ``JobSettings`` with what every front end shows and checks: the command line's
    flags, the panel's properties and the server's schema are made from it, so a default, a range
    or a help text is changed here and nowhere else.

    ``low``/``high`` bound the value (``above``: strictly above ``low``); ``limit`` makes a value
    over ``high`` an ``OverLimit`` (a size the machine would not carry) rather than a mistake;
    ``off`` is the word the command line takes for None; ``group`` sorts the flags in --help.
    """
    value = {"default_factory": lambda: list(default)} if isinstance(default, list) else {"default": default}
    return field(**value, metadata={"doc": doc, "label": label, "low": low, "high": high, "above": above,
                                            "limit": limit, "unit": unit, "group": group, "off": off})


@dataclass(kw_only=True)
class JobSettings:
    """Sampling settings. Steps, CFG, shift and sampler left unset take the official values of the
    checkpoint's model (one job runs on any model: the checkpoint, not the client, says which)."""

    # Steps, CFG, shift and sampler: None (unset) is the checkpoint's model's official value
    # (MODEL_DEFAULTS), filled in by resolve_settings once the runner knows the model.
    steps: int | None = setting(None, "denoising steps", label="Steps", low=1, high=MAX_STEPS, limit=True,
                                unit="steps")
    cfg: float | None = setting(None, "guidance scale; 1 turns it off", label="CFG", low=0.0, high=30.0)
    shift: float | None = setting(None, "schedule shift", label="Shift", low=0.0, high=100.0, above=True)
    seed: int = setting(0, "noise seed: the same seed gives the same video on any device", label="Seed", low=0,
                        high=2**63 - 1)
    sampler: Sampler | None = setting(None, "sampler", label="Sampler")
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
    # Speed modes, all off by default but compile "auto" (README "Speed modes").
    precision: Precision = setting("bf16", "fp8: e4m3 linears in the DiT blocks, half the weight memory",
                                   label="Precision", group="speed")
    attention: Attention = setting("auto", "auto: exact, the fastest kernel installed (FlashAttention-4 on a Hopper "
                                           "or Blackwell GPU with the flash-attn-4 package, else cuDNN); fa4: "
                                           "FlashAttention-4 only; sdpa: torch's own choice; sage: 8-bit (needs the "
                                           "sageattention package on a GPU)", label="Attention", group="speed")
    cache: float | None = setting(None, "TeaCache step skipping: a threshold such as 0.1 (higher skips more steps)",
                                  label="Step Cache", low=0.0, high=1.0, group="speed", off="off")
    vram: Vram = setting("full", "24gb/12gb: stream the DiT blocks from pinned CPU memory", label="VRAM",
                         group="speed")
    # The LoRA stack, applied in order, each at its strength (LoraSpec); old jobs' single lora and
    # lora_strength are read as a stack of one (migrate_settings).
    loras: list[LoraSpec] = setting([], "LoRAs merged into the DiT in order, each with its strength: .safetensors files "
                                        "here, names on a server", label="LoRAs", group="speed")
    lora_mode: LoraMode = setting("merge", "merge: each LoRA of the stack is added into the weights once, in order "
                                           "(before any fp8 conversion): nothing per step, a float32 copy of one "
                                           "weight at a time while merging; live: applied on the fly in each "
                                           "linear layer, base weights untouched (for fp8 weights): per LoRA one "
                                           "low-rank product per layer and step in float32 (about 2 percent more "
                                           "linear FLOPs at rank 64 on the 14B model) and its pairs kept in float32 "
                                           "on the GPU "
                                           "(about 1.4 GB at rank 64)", label="LoRA Mode", group="speed")
    compile: Compile = setting("auto", "torch.compile the DiT blocks (fused norms, modulation, RoPE, gates): 1.19x "
                                       "per step on an H100 after a one-off compile of 1 to 25 s, kept for the "
                                       "next jobs of the same process; auto: on with a CUDA GPU, off elsewhere "
                                       "(on a CPU it needs a C++ compiler)", label="Compile", group="speed")

    def __post_init__(self) -> None:
        # A stack read from JSON (or built by hand) as plain dicts is one of LoraSpec.
        self.loras = [spec if isinstance(spec, LoraSpec) else LoraSpec(**spec) for spec in self.loras]


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
        inputs, settings = migrate_job(data["inputs"], data.get("settings", {}))
        job = cls(inputs=JobInputs(**inputs), settings=JobSettings(**settings), output=data.get("output", "out.mp4"))
        job.validate()
        return job

    def validate(self) -> None:
        """Check values (not files): a bad value fails here, before any model is loaded."""
        i, s = self.inputs, self.settings
        for name in ("reference_image", "pose_video"):
            if not getattr(i, name):
                raise InputError(f"inputs.{name}: empty; give the path of the file")
        _check_extra_references(i, s)
        _check_ranges(s)
        if s.sampler is not None:
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
                             "(auto: exact, fastest kernel; fa4: FlashAttention-4; sage: 8-bit, needs the sageattention package "
                             "on GPU)")
        _one_of("compile", s.compile, COMPILES)
        if s.vram not in VRAM_MODES:
            raise InputError(f"settings.vram: {s.vram!r} is unknown; use one of {', '.join(VRAM_MODES)} "
                             "(24gb/12gb keep the DiT blocks in CPU memory and stream them to the GPU)")
        check_loras(s.loras)


def _check_extra_references(i: JobInputs, s: JobSettings) -> None:
    """Extra references come in image-and-mask pairs, for SCAIL-2 only, at most MAX_EXTRA_REFERENCES."""
    images, masks = list(i.extra_references), list(i.extra_reference_masks)
    if len(images) != len(masks):
        raise InputError(f"inputs.extra_references: {len(images)} images but {len(masks)} masks; give each extra "
                         "reference with its mask (scail generate --extra-reference IMAGE MASK)")
    if len(images) > MAX_EXTRA_REFERENCES:
        raise OverLimit(f"inputs.extra_references: {len(images)} is over the limit; at most "
                        f"{MAX_EXTRA_REFERENCES} extra reference views per job")
    if any(not path for path in images + masks):
        raise InputError("inputs.extra_references: an empty path; give the path of each image and mask")
    if images and s.variant == "scail":
        raise InputError("inputs.extra_references: extra reference views need a SCAIL-2 checkpoint; drop them "
                         "for SCAIL-Preview")


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
