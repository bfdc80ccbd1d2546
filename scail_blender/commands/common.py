"""What every ``scail`` sub-command shares: the size option and the terminal progress line.

Sizes are height x width everywhere (as SCAIL's own scripts give them), so one parser serves
every command and every message spells the order out.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from ..pose.framing import parse_size
from ..progress import Progress, ProgressCallback


def size_arg(text: str) -> tuple[int, int]:
    """argparse type for ``--size HxW``: (height, width)."""
    try:
        return parse_size(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def terminal_progress() -> ProgressCallback:
    """One progress line on stderr: rewritten in place on a terminal; in a log, a line per tenth
    of each phase (so an 81-frame render writes about ten lines, a 40-step job every step it
    crosses a tenth), which keeps CI and server logs readable."""
    interactive = sys.stderr.isatty()
    last: list[tuple[str, int]] = []

    def show(event: Progress) -> None:
        text = f"{event.phase} {event.step}/{event.total} {event.message}".rstrip()
        if interactive:
            end = "\n" if event.phase == "done" else ""
            print(f"\r\x1b[K{text}", end=end, file=sys.stderr, flush=True)
            return
        key = (event.phase, int(10 * event.fraction))
        if not last or key != last[-1] or event.step == event.total:
            print(text, file=sys.stderr, flush=True)
            last[:] = [key]

    return show
