"""``scail jobs``: list a job server's jobs, cancel or delete one."""

from __future__ import annotations

import argparse
import time

from ..jobs.client import ScailClient
from ..jobs.loras import LoraSpec, describe_stack
from ..jobs.status import JobStatus
from .common import add_server_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "jobs", help="list, cancel or delete the jobs of a job server",
        description="List a job server's jobs (oldest first), or cancel or delete one.")
    add_server_arguments(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--cancel", metavar="ID", help="cancel this job (a running one stops after its current step)")
    group.add_argument("--delete", metavar="ID", help="cancel this job if needed and remove it and its files")
    parser.add_argument("--limit", type=int, default=50, help="jobs to list (default %(default)s)")
    parser.add_argument("--offset", type=int, default=0, help="skip this many jobs (default %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    client = ScailClient(args.server, args.token)
    if args.cancel:
        status = client.cancel(args.cancel)
        print(f"job {status.id} {status.state}")
        return 0
    if args.delete:
        client.delete(args.delete)
        print(f"job {args.delete} deleted")
        return 0
    page = client.page(args.limit, args.offset)
    for view in page["jobs"]:
        status = JobStatus.from_dict(view)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.created))
        detail = status.error.message if status.error else (status.message or "")
        eta = f" eta {status.eta_seconds:.0f} s" if status.eta_seconds is not None else ""
        loras = [LoraSpec(**spec) for spec in view.get("settings", {}).get("loras", [])]
        stack = f"  loras {describe_stack(loras)}" if loras else ""
        print(f"{status.id}  {when}  {status.state:9s} {100 * status.progress:5.1f}%{eta}{stack}  {detail}".rstrip())
    print(f"{len(page['jobs'])} of {page['total']} jobs")
    return 0
