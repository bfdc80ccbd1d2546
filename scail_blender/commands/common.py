"""What every ``scail`` sub-command shares: the size option, the job flags and the progress line.

Sizes are height x width everywhere (as SCAIL's own scripts give them), so one parser serves
every command and every message spells the order out. ``scail generate`` and ``scail submit``
take the same job flags from ``add_job_arguments`` and build the job with ``job_from_args``, so
a job means the same in this process and on a server.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import types
import typing
from collections.abc import Callable
from typing import Any

from ..jobs.contract import MODEL_NAMES, Job, JobInputs, JobSettings, setting_fields
from ..jobs.sampling import MODEL_DEFAULTS, MODEL_SETTINGS, PRESET_SETTINGS, PRESETS, describe_preset
from ..jobs.loras import LORA_STRENGTH, MAX_LORAS, LoraSpec
from ..jobs.status import JobStatus
from ..errors import InputError
from ..pose.framing import parse_size
from ..progress import Progress, ProgressCallback

MAX_FPS = 120.0


def warn(message: str) -> None:
    """A warning line on stderr, in the same form as the errors."""
    print(f"scail: warning: {message}", file=sys.stderr)


def fps_arg(text: str) -> float:
    """argparse type for a frame rate: a number from 1 to 120 frames per second."""
    try:
        fps = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of frames per second, e.g. 16") from None
    if not 1.0 <= fps <= MAX_FPS:
        raise argparse.ArgumentTypeError(f"{text} frames per second is outside 1 to {MAX_FPS:g} (SCAIL uses 16)")
    return fps


def size_arg(text: str) -> tuple[int, int]:
    """argparse type for ``--size HxW``: (height, width)."""
    try:
        return parse_size(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def terminal_progress() -> ProgressCallback:
    """One progress line on stderr with an ETA per phase: rewritten in place on a terminal; in a
    log, a line per tenth of each phase (so an 81-frame render writes about ten lines, a 40-step
    job every step it crosses a tenth), which keeps CI and server logs readable."""
    interactive = sys.stderr.isatty()
    last: list[tuple[str, int]] = []
    eta = PhaseClock()

    def show(event: Progress) -> None:
        text = f"{event.phase} {event.step}/{event.total} {event.message}".rstrip() + eta.text(event)
        if interactive:
            end = "\n" if event.phase == "done" else ""
            print(f"\r\x1b[K{text}", end=end, file=sys.stderr, flush=True)
            return
        key = (event.phase, int(10 * event.fraction))
        if not last or key != last[-1] or event.step == event.total:
            print(text, file=sys.stderr, flush=True)
            last[:] = [key]

    return show


class PhaseClock:
    """Time left in a phase from its own pace: phases interleave (a long clip encodes, denoises
    and decodes window after window), so each phase keeps the seconds and steps spent in it."""

    def __init__(self) -> None:
        self._spent: dict[str, tuple[float, int]] = {}
        self._last: tuple[str, int, float] | None = None

    def text(self, event: Progress) -> str:
        now = time.monotonic()
        if self._last is not None and self._last[0] == event.phase and event.step > self._last[1]:
            seconds, steps = self._spent.get(event.phase, (0.0, 0))
            self._spent[event.phase] = (seconds + now - self._last[2], steps + event.step - self._last[1])
        self._last = (event.phase, event.step, now)
        seconds, steps = self._spent.get(event.phase, (0.0, 0))
        if not steps or event.step >= event.total or event.phase == "done":
            return ""
        return f" (ETA {_duration(seconds / steps * (event.total - event.step))})"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# Height and width are one flag, --size HxW, as everywhere on the command line; the LoRA stack is
# the repeatable --lora PATH[:STRENGTH].
SIZE_SETTINGS = ("height", "width")
OWN_FLAGS = (*SIZE_SETTINGS, "loras")


def lora_arg(text: str) -> LoraSpec:
    """argparse type for ``--lora PATH[:STRENGTH]``: a strength after the last colon, 1 without one
    (a colon followed by no number is part of the path, as in C:\\loras\\x.safetensors)."""
    path, _, tail = text.rpartition(":")
    try:
        strength = float(tail) if path else 1.0
    except ValueError:
        path, strength = text, 1.0
    if not path:
        path = text
    low, high = LORA_STRENGTH
    if not low <= strength <= high:
        raise argparse.ArgumentTypeError(f"strength {strength:g} of {path} is outside {low:g} to {high:g} (1 = as "
                                         "trained)")
    return LoraSpec(name=path, strength=strength)


def presets_help() -> str:
    """The presets as --help lists them (the panel's menu and the README show the same)."""
    return "\n".join(f"  --preset {name}: {describe_preset(name)}: {preset.doc}" for name, preset in PRESETS.items())


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The inputs, output and settings of one job (``scail generate``, ``scail submit``); the
    settings' flags, defaults, choices and help come from ``JobSettings`` itself."""
    parser.add_argument("--ref", metavar="IMAGE", required=True, help="reference image (PNG or JPEG)")
    parser.add_argument("--pose", metavar="POSE.mp4", required=True, help="SCAIL pose video")
    parser.add_argument("--prompt", default="", help="text prompt (default: empty)")
    parser.add_argument("--negative-prompt", default="", help="negative prompt (default: empty)")
    parser.add_argument("--ref-mask", metavar="IMAGE", help="SCAIL-2: colour mask of the reference image")
    parser.add_argument("--pose-mask", metavar="MASK.mp4", help="SCAIL-2: colour mask video, one frame per pose frame")
    parser.add_argument("--extra-reference", metavar=("IMAGE", "MASK"), nargs=2, action="append", default=[],
                        help="SCAIL-2: another view of the characters (side, back...) and its colour mask, in the "
                             "reference mask's colours (repeatable; scail render-pose --extra-view writes them)")
    parser.add_argument("--character-mask", metavar="MASK.mp4", action="append", default=[],
                        help="MultiAnimate: one character's binary mask video (white inside), one frame per pose "
                             "frame; repeat it once per character in identity order (scail render-pose "
                             "--character-masks-out writes them)")
    parser.add_argument("--reference-pose", metavar="IMAGE",
                        help="MultiAnimate: the skeleton render of the reference image (scail render-pose writes it "
                             "with --character-masks-out)")
    parser.add_argument("--out", metavar="OUT.mp4", required=True, help="H.264 mp4 to write")
    parser.add_argument("--size", metavar="HxW", type=size_arg,
                        help="output size, height x width in multiples of 32, e.g. 512x896 (default: 512x896, "
                             "896x512 for a portrait reference)")
    parser.add_argument("--preset", choices=tuple(PRESETS), default="default",
                        help="sampler preset: fills " + ", ".join(PRESET_SETTINGS) + " (a flag of its own still "
                             "wins); distill is for the step-distillation LoRA (default %(default)s)")
    groups = {"sampling": parser, "speed": parser.add_argument_group("speed modes (off by default, but compile: auto)")}
    hints = typing.get_type_hints(JobSettings)
    for name, f in setting_fields().items():
        if name not in OWN_FLAGS:
            flag = _flag(f, hints[name])
            if name in MODEL_SETTINGS:  # None: not given, the preset or else the checkpoint's model decides
                flag.update(default=None, help=f"{f.metadata['doc']} ({model_default_text(name)}"
                                               + ("; --preset sets it)" if name in PRESET_SETTINGS else ")"))
            groups[f.metadata["group"]].add_argument("--" + name.replace("_", "-"), **flag)
    groups["speed"].add_argument("--lora", metavar="PATH[:STRENGTH]", type=lora_arg, action="append", default=[],
                                 help=f"a LoRA at a strength (default 1): give it up to {MAX_LORAS} times for a "
                                      "stack, applied in that order (kohya, diffusers/PEFT, lightx2v or ComfyUI "
                                      "keys)")


def model_default_text(name: str) -> str:
    """``default: the checkpoint's model's, 40 for SCAIL-Preview and SCAIL-2, 50 for MultiAnimate``."""
    by_value: dict[Any, list[str]] = {}
    for model, values in MODEL_DEFAULTS.items():
        by_value.setdefault(values[name], []).append(MODEL_NAMES[model])
    parts = [f"{value if isinstance(value, str) else format(value, 'g')} for {' and '.join(models)}"
             for value, models in by_value.items()]
    return "default: the checkpoint's model's, " + ", ".join(parts)


def _flag(f: dataclasses.Field, hint: Any) -> dict[str, Any]:
    """argparse keywords for one setting, from its type and metadata."""
    m = f.metadata
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    kind = next(a for a in typing.get_args(hint) if a is not type(None)) if union else hint
    default = "" if f.default is None else " (default %(default)s)"
    if kind is bool:
        return {"action": "store_true", "help": m["doc"]}
    if typing.get_origin(kind) is typing.Literal:
        return {"choices": typing.get_args(kind), "default": f.default, "help": m["doc"] + default}
    if m["off"]:
        return {"type": _or_off(kind, m["off"]), "metavar": f"{m['off']}|VALUE", "default": f.default,
                "help": f"{m['doc']}, or {m['off']} (default {m['off']})"}
    return {"type": kind, "metavar": f.name.upper(), "default": f.default, "help": m["doc"] + default}


def _or_off(kind: type, off: str) -> Callable[[str], Any]:
    """argparse type for a setting that ``off`` turns off (None)."""
    def parse(text: str) -> Any:
        if text.lower() == off:
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is neither '{off}' nor a number such as 0.1") from None
    return parse


def job_from_args(args: argparse.Namespace) -> Job:
    """The job the flags of ``add_job_arguments`` describe, its values checked."""
    height, width = args.size or (None, None)
    values = {name: getattr(args, name) for name in setting_fields() if name not in OWN_FLAGS}
    for name, value in PRESETS[args.preset].values.items():  # what it leaves out stays the model's
        if values[name] is None:
            values[name] = value
    job = Job(inputs=JobInputs(reference_image=args.ref, pose_video=args.pose, prompt=args.prompt,
                               negative_prompt=args.negative_prompt, reference_mask=args.ref_mask,
                               pose_mask=args.pose_mask, character_masks=list(args.character_mask) or None,
                               reference_pose=args.reference_pose,
                               extra_references=[image for image, _ in args.extra_reference],
                               extra_reference_masks=[mask for _, mask in args.extra_reference]),
              settings=JobSettings(**values, loras=list(args.lora), height=height, width=width),
              output=args.out)
    job.validate()
    return job


def status_progress() -> Callable[[JobStatus], None]:
    """``terminal_progress`` for job statuses (runner listeners, server events): each new
    progress event is shown once, state changes alone print nothing."""
    show = terminal_progress()
    last: list[Progress | None] = [None]

    def on_status(status: JobStatus) -> None:
        event = status.event
        if event is not None and event != last[0]:
            last[0] = event
            show(event)

    return on_status


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the job server is (``scail submit``, ``scail jobs``)."""
    parser.add_argument("--server", metavar="URL", default="http://127.0.0.1:8188",
                        help="job server address (default %(default)s)")
    parser.add_argument("--token", help="the server's bearer token (scail serve --token)")
