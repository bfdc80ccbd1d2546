"""The ``scail`` command line.

Each sub-command lives in its own module under ``scail_blender.commands`` and exposes
``register(subparsers)``; this file only assembles them, so heavy imports (bpy, torch) happen
inside the command that needs them and ``scail --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import ScailError

COMMAND_MODULES: tuple[str, ...] = (
    "render_pose", "motion", "generate", "submit", "jobs", "serve", "make_test_checkpoint", "convert", "parity",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scail",
        description="SCAIL pose videos from rigs and motion, and SCAIL character animation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # The command line prints what users need; the modules' log records (the runner's "job failed")
    # are for the server, which configures logging itself (scail serve).
    logging.getLogger("scail_blender").addHandler(logging.NullHandler())
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ScailError as exc:
        print(f"scail: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scail: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
