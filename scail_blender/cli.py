"""The ``scail`` command line.

Each sub-command lives in its own module under ``scail_blender.commands`` and exposes
``register(subparsers)``; this file only assembles them, so heavy imports (bpy, torch) happen
inside the command that needs them and ``scail --help`` stays instant.

Every error a user can cause reaches them as one line, ``scail: error: ...`` with exit code 2;
anything else is a bug and keeps its traceback, plus a line saying so. Ctrl-C and SIGTERM both
unwind through the commands' clean-up (exit 130 and 143), and a closed pipe (``| head``) ends
the output quietly.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from importlib import metadata

from .errors import ScailError
from .outputs import Terminated, signals_as_interrupts

COMMAND_MODULES: tuple[str, ...] = (
    "render_pose", "motion", "extract", "generate", "submit", "jobs", "serve", "make_test_checkpoint", "convert",
    "parity", "models", "black_out",
)


def version() -> str:
    try:
        return metadata.version("scail-blender")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


class Parser(argparse.ArgumentParser):
    """argparse with the house's one-line errors (sub-command parsers inherit the class)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"scail: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="scail",
        description="SCAIL pose videos from rigs and motion, and SCAIL character animation.",
    )
    parser.add_argument("--version", action="version", version=f"scail {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _show_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with signals_as_interrupts():
            code = int(args.run(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, not as noise at interpreter exit
            return code
    except ScailError as exc:
        print(f"scail: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("scail: error: ran out of memory; use a smaller --size, fewer frames (--max-frames for generate) "
              "or close other programs", file=sys.stderr)
        return 2
    except Terminated:
        print("scail: terminated; nothing was written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("scail: cancelled; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``scail motion info x | head``): stop writing, quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        traceback.print_exc()
        print(f"scail: this is a bug in scail {version()}, not something you did wrong; please report it "
              "with the lines above", file=sys.stderr)
        return 1


def _show_warnings() -> None:
    """The core reports through loggers; on the command line their warnings read as
    ``scail: warning: ...`` on stderr, and nothing below a warning is shown."""
    package = logging.getLogger("scail_blender")
    if not any(isinstance(h, _StderrHandler) for h in package.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("scail: warning: %(message)s"))
        # A job's outcome is the command's own line (its error, or "wrote ..."); the runner's log
        # records of it are for the server's log.
        handler.addFilter(lambda record: not record.name.startswith("scail_blender.jobs.runner"))
        handler.setLevel(logging.WARNING)  # a command that logs more (scail serve) keeps stderr's lines warnings
        package.addHandler(handler)
        package.setLevel(logging.WARNING)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the message (tests swap it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main())
