"""The job contract: what a generation or an extraction needs, reports and returns.

The in-process runner, the HTTP client and the server all speak these dataclasses. They stay
plain (no pydantic, no torch) because Blender and the command line build and check jobs without
extra wheels; the server validates and documents the very same classes through pydantic, which
reads the ``Literal`` annotations as enumerations. ``validate`` holds the rules that one field's
type cannot say, so a bad value fails before any model is loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
# One window of the model: 81 frames (21 latent frames), as both releases were trained.
WINDOW_FRAMES = 81
# Speed modes (engine/speed.py; README "Speed modes"). Everything but the defaults is opt-in.
Precision = Literal["bf16", "fp8"]
Attention = Literal["auto", "sdpa", "sage"]
Vram = Literal["full", "24gb", "12gb"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
ATTENTIONS: tuple[str, ...] = get_args(Attention)
VRAM_MODES: tuple[str, ...] = get_args(Vram)
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
    # The LoRA file as this process sees it, where settings.lora is only its name: a client sets it
    # to a file of its own to upload with the job; a server to the file it resolved the name to.
    lora_file: str | None = None


@dataclass(kw_only=True)
class JobSettings:
    """Sampling settings; the defaults are the official wan-branch defaults of SCAIL-Preview."""

    steps: int = 40
    cfg: float = 5.0
    shift: float = 3.0
    seed: int = 0
    sampler: Sampler = "unipc"
    # Use at most this many frames of the pose video (None: all of them).
    max_frames: int | None = None
    # Output size in pixels, height then width; None picks 512 high x 896 wide, or 896 high x
    # 512 wide for a portrait reference.
    height: int | None = None
    width: int | None = None
    # None: taken from the checkpoint (a SCAIL-2 checkpoint has the mask embedding).
    variant: Variant | None = None
    mode: Mode = "animation"
    # Speed modes, all off by default (README "Speed modes"): fp8 linears, 8-bit attention,
    # TeaCache step skipping (a threshold; None = off), block offload for small GPUs, a LoRA file.
    precision: Precision = "bf16"
    attention: Attention = "auto"
    cache: float | None = None
    vram: Vram = "full"
    # A LoRA to merge: in this process the path of a .safetensors file (or the name of
    # inputs.lora_file); on a job server a name, never a path: one of its LoRAs (GET /v1/loras) or
    # the file uploaded with the job.
    lora: str | None = None
    lora_strength: float = 1.0
    compile: bool = False  # torch.compile the DiT blocks: the first steps pay the compile once per loaded model


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
        if s.steps < 1:
            raise InputError(f"settings.steps: {s.steps} is out of range; use 1 to {MAX_STEPS} (40 is the default)")
        if s.steps > MAX_STEPS:
            raise OverLimit(f"settings.steps: {s.steps} is over the limit; at most {MAX_STEPS} steps (40 is the default)")
        if not 0.0 <= s.cfg <= 30.0:
            raise InputError(f"settings.cfg: {s.cfg} is out of range; use 0 to 30 (1 turns guidance off)")
        if not 0.0 < s.shift <= 100.0:
            raise InputError(f"settings.shift: {s.shift} must be above 0 (3 for 512p, 5 as in the paper)")
        if not 0 <= s.seed < 2**63:
            raise InputError(f"settings.seed: {s.seed} must be a non-negative integer below 2**63")
        _one_of("sampler", s.sampler, SAMPLERS)
        _one_of("mode", s.mode, MODES)
        if s.variant is not None:
            _one_of("variant", s.variant, VARIANTS)
        if s.max_frames is not None and s.max_frames < 1:
            raise InputError(f"settings.max_frames: {s.max_frames} must be at least 1 (or null for all)")
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
