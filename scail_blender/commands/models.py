"""``scail models``: what a models folder holds, what a setup needs, and getting the missing files."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ..errors import Cancelled, InputError
from ..jobs.weights.download import get, listing, plan
from ..jobs.weights.finder import report, scan, select
from ..jobs.weights.setups import SETUPS, setup
from ..progress import Progress

EPILOG = """\
scail models --models-dir DIR
  what the folder holds, identified by each file's header (not its name): the SCAIL DiTs with
  their layout and dtype (official release, wan-branch, ComfyUI fp16/fp8_scaled, kijai fp8,
  GGUF), the Wan2.1 VAE, umT5-xxl encoder and tokenizer, CLIP ViT-H/14 and LoRAs; which of
  them `scail generate --models-dir DIR` would use (*) and what is missing (exit code 1 when
  something is). The folder may be a
  ComfyUI models/ folder (diffusion_models/ or unet/, vae/, text_encoders/ or clip/,
  clip_vision/, loras/), a folder holding the SCAIL-Preview / SCAIL-2 downloads, or both.

scail models list [--setup NAME] [--models-dir DIR]
  the files each setup needs, with sizes (~: as the hub rounds them) and, with --models-dir,
  which are present (a file of the same kind already there serves too, except for the DiT).

scail models get --setup NAME --models-dir DIR [--token TOKEN]
  downloads the missing files with huggingface_hub: sizes are asked first (a wrong name or a
  gated repository fails before any byte), then the free disk space is checked; progress shows
  MB, rate and time left; Ctrl-C or a lost connection keeps the partial file and the same
  command resumes it. Gated repositories need a token (--token or HF_TOKEN) of an account that
  accepted the licence; HF_ENDPOINT points at a mirror, HF_HUB_OFFLINE=1 refuses downloads.

Setups:
""" + "\n".join(f"  {s.name:14} {s.summary}" for s in SETUPS.values())


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="show what a models folder holds; list and download a setup's files",
        description="Find SCAIL's files in a models folder (ComfyUI's or the official downloads), list what a "
                    "setup needs, and download the missing files from the Hugging Face hub.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", choices=("show", "list", "get"), default="show",
                        help="show (default): what --models-dir holds; list: a setup's files; get: download them")
    parser.add_argument("--models-dir", metavar="DIR", help="ComfyUI models/ folder or a folder with the official downloads")
    parser.add_argument("--setup", choices=tuple(SETUPS), help="which files: see the list below")
    parser.add_argument("--dit", metavar="NAME", help="show: the DiT to pair with components when several are found "
                        "(its file name or path in the folder)")
    parser.add_argument("--token", help="Hugging Face token for gated files (default: $HF_TOKEN)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "show":
        if not args.models_dir:
            raise InputError("give the folder to look into: scail models --models-dir DIR")
        found = scan(args.models_dir)
        selection = select(found, args.dit) if found.usable("dit") else None
        print(report(found, selection))
        return 0 if selection is not None and not selection.missing else 1
    if args.action == "list":
        for chosen in ([setup(args.setup)] if args.setup else SETUPS.values()):
            print(listing(chosen, plan(chosen, args.models_dir) if args.models_dir else None))
        return 0
    if not (args.setup and args.models_dir):
        raise InputError("scail models get needs --setup NAME and --models-dir DIR (scail models list shows the setups)")
    chosen = setup(args.setup)
    print(listing(chosen, plan(chosen, args.models_dir)))
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        written = get(chosen, args.models_dir, token=args.token, on_progress=_printer(), cancel=cancel)
    except Cancelled:
        print("\nscail: stopped; the partial file stays and the same command resumes it", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    print("\n".join(f"wrote {path}" for path in written) or "nothing to download: every file is present")
    return 0


def _printer():
    """One line rewritten in place on a terminal; in a log, a line per tenth of the download."""
    interactive = sys.stderr.isatty()
    shown: list[int] = [-1]

    def show(event: Progress) -> None:
        text = f"{event.phase} {event.message}"
        if interactive:
            print(f"\r\x1b[K{text}", end="\n" if event.phase == "done" else "", file=sys.stderr, flush=True)
        elif (tenth := int(10 * event.fraction)) != shown[0] or event.phase == "done":
            shown[0] = tenth
            print(text, file=sys.stderr, flush=True)

    return show
