"""``scail make-test-checkpoint``: a tiny random checkpoint folder in the official layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "make-test-checkpoint", help="write a tiny random SCAIL checkpoint folder for smoke tests",
        description="Write a tiny random checkpoint folder laid out like the release (DiT under model/1/, "
                    "Wan2.1_VAE.pth, umt5-xxl/ with a tokenizer, the CLIP file). It loads through the same "
                    "code as the real one, in seconds, on a CPU; its videos are noise.")
    parser.add_argument("dir", metavar="DIR", help="folder to create (must not exist or be empty)")
    parser.add_argument("--variant", choices=("scail", "scail2"), default="scail",
                        help="scail: SCAIL-Preview layout (SAT file); scail2: SCAIL-2 (FSDP file, mask embedding)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise InputError(f"{root} exists and is not an empty folder; give a new folder name")
    from ..backend.tiny_checkpoint import write_tiny_checkpoint

    write_tiny_checkpoint(root, args.variant, args.seed)
    print(f"wrote a tiny {args.variant} checkpoint to {root}")
    return 0
