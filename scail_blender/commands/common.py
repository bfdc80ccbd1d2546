"""What every ``scail`` sub-command shares: the size option and the terminal progress line.

Sizes are height x width everywhere (as SCAIL's own scripts give them), so one parser serves
every command and every message spells the order out.
"""

from __future__ import annotations

import argparse
import sys
import time

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
