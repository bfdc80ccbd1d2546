"""``scail generate``: animate a reference image with a pose video, in this process.

The job goes through the same ``LocalRunner`` as Blender's and the server's jobs: one place
queues, cancels and reports progress.
"""

from __future__ import annotations

import argparse
import signal
import sys

from ..backend.runner import JobHandle, LocalRunner
from ..errors import Cancelled
from .common import add_job_arguments, job_from_args, status_progress

EPILOG = """\
The checkpoint folder is the downloaded SCAIL-Preview or SCAIL-2 folder: model/1/... (the DiT),
Wan2.1_VAE.pth, umt5-xxl/ (encoder + tokenizer files) and the CLIP .pth. `scail
make-test-checkpoint DIR` writes a tiny random one to try a setup.

Defaults are the official ones: UniPC, 40 steps, shift 3, CFG 5, empty negative prompt, 512x896
(896x512 for a portrait reference), output at the pose video's frame rate. Clips longer than 81
frames are generated in windows 76 frames apart. Ctrl-C stops after the current step; nothing is
written.

A SCAIL-2 checkpoint also needs --ref-mask and --pose-mask, as the official scripts do: the
character painted in one colour (e.g. red) on black, in the reference image and in every frame of
the driving video.

example:
  scail generate --checkpoint SCAIL-Preview --ref ref.png --pose pose.mp4 \\
      --prompt "a woman dancing in a park" --out dance.mp4
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="generate a SCAIL animation from a reference image and a pose video",
        description="Animate the character of a reference image with a SCAIL pose video.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", metavar="DIR", required=True, help="SCAIL-Preview or SCAIL-2 folder")
    add_job_arguments(parser)
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    job = job_from_args(args)
    runner = LocalRunner(args.checkpoint, args.device)
    handle = runner.submit(job, listener=status_progress())
    previous = signal.signal(signal.SIGINT, lambda *_: _first_interrupt(handle, previous))
    try:
        result = handle.result()
    except Cancelled:
        print("\nscail: cancelled; nothing was written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
        runner.close()
    print(f"wrote {result.output} ({result.frames} frames, {result.height} high x {result.width} wide, "
          f"{result.fps:g} fps, {result.seconds:.1f} s, seed {result.seed})")
    return 0


def _first_interrupt(handle: JobHandle, previous) -> None:
    """Ctrl-C asks the job to stop after the current step; a second Ctrl-C interrupts at once."""
    handle.cancel()
    signal.signal(signal.SIGINT, previous)
    print("\nscail: stopping after the current step (Ctrl-C again to abort now)", file=sys.stderr)
