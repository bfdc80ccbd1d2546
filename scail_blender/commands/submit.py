"""``scail submit``: send a job to a ``scail serve`` server, follow it, download the result."""

from __future__ import annotations

import argparse
import signal
import sys

from ..jobs.client import ScailClient
from ..jobs.follow import follow
from ..jobs.loras import describe_stack
from .common import (
    add_job_arguments,
    add_server_arguments,
    job_from_args,
    status_progress,
)

EPILOG = """\
Takes the same job flags as `scail generate`; the files are uploaded and checked by the server
before it answers. Progress follows the server's events; the result is downloaded to --out (the
file appears only when complete). Ctrl-C asks the server to cancel the job. With --no-wait the
job id is printed and the command returns; `scail jobs` lists, cancels and deletes jobs.

--lora FILE[:STRENGTH] uploads a LoRA file of this machine with the job (within the server's
upload limit); --lora NAME[:STRENGTH] (anything that is no file here) names one of the server's
LoRAs, the .safetensors files of its --lora-dir (GET /v1/loras lists them). Repeat --lora for a
stack, mixing both kinds; the server checks every name and file before it queues the job and
never opens a path a client names. --preset distill sets the sampling a distillation LoRA needs.

example:
  scail submit --server http://127.0.0.1:8188 --ref ref.png --pose pose.mp4 \\
      --prompt "a woman dancing in a park" --out dance.mp4
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit", help="run a generation job on a job server (scail serve)",
        description="Submit a SCAIL job to a job server and download the result.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_arguments(parser)
    add_job_arguments(parser)
    parser.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    job = job_from_args(args)
    client = ScailClient(args.server, args.token)
    status = client.submit(job)
    stack = f" with LoRAs {describe_stack(job.settings.loras)}" if job.settings.loras else ""
    print(f"job {status.id} {status.state}{stack}", file=sys.stderr)
    if args.no_wait:
        print(status.id)
        return 0
    previous = signal.signal(signal.SIGINT, lambda *_: _cancel(client, status.id, previous))
    try:
        final = follow(client, status.id, status_progress(), args.out)
    finally:
        signal.signal(signal.SIGINT, previous)
    if final.state == "cancelled":
        print(f"scail: job {final.id} cancelled; nothing was written", file=sys.stderr)
        return 130
    if final.state == "failed":
        assert final.error is not None
        raise final.error.exception()
    result = final.result
    assert result is not None
    print(f"wrote {args.out} ({result.frames} frames, {result.height} high x {result.width} wide, "
          f"{result.fps:g} fps, {result.seconds:.1f} s on the server, seed {result.seed}, job {final.id})")
    return 0


def _cancel(client: ScailClient, job_id: str, previous) -> None:
    """Ctrl-C cancels the job on the server (it stops after its current step); a second one quits."""
    signal.signal(signal.SIGINT, previous)
    client.cancel(job_id)
    print(f"\nscail: asked the server to cancel job {job_id} (Ctrl-C again to stop waiting)", file=sys.stderr)
