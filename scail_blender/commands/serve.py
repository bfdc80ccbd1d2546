"""``scail serve``: the job server (FastAPI + uvicorn) for one checkpoint on one device.

fastapi, uvicorn and the server package are imported inside ``run``: ``scail serve --help``
stays instant and the core never depends on them.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path

from ..errors import InputError
from ..jobs.weights.finder import resolve

EPILOG = """\
The server listens on 127.0.0.1 (this machine only) unless --host says otherwise; any other
address needs --token, which every request then sends as 'Authorization: Bearer TOKEN'. Jobs
and their files live in --data-dir (an SQLite file and one folder per job), so queued and
finished jobs survive a restart; a job that was running is queued again once. SIGTERM or
Ctrl-C stops the server within seconds: event streams end with a 'stopping' event (clients
follow again once the server is back) and the running job goes back to the queue after its
current step, without using up its attempt.

API v1 (OpenAPI at /docs and /openapi.json): POST /v1/jobs (multipart: reference, pose,
optional reference_mask, pose_mask and SCAIL-2 extra views as pairs extra_reference_K and
extra_reference_mask_K from K = 0, MultiAnimate's reference_pose and character masks character_mask_K
from K = 0 in identity order, field job = JSON prompt/negative_prompt/settings),
GET /v1/jobs, GET /v1/jobs/ID, GET /v1/jobs/ID/events (server-sent events), GET
/v1/jobs/ID/result, POST /v1/extract (multipart: video, optional align_ref, field settings =
JSON people/smooth/device; the result is the motion .npz; needs --pose-weights), POST /v1/jobs/ID/cancel, DELETE /v1/jobs/ID, GET /v1/health, GET
/v1/models, POST /v1/models/release, GET /v1/loras.

LoRAs: each entry of a job's settings.loras (a stack, merged in order) is a name, never a path:
a .safetensors file of --lora-dir (GET /v1/loras lists them), or the stack's N-th file uploaded
with the job as 'lora_N'; every name is checked before the job is queued. Jobs larger than the limits
are refused with 422 before they are queued: a side over 4096 pixels, over 1000 steps, or more
height x width x frames than --max-pixels-frames (default: half the device's memory at 48 bytes
per pixel-frame, about 890 million on an 80 GB GPU).

--models-dir DIR serves the DiT found in a ComfyUI models/ folder or a folder of official downloads
(--dit NAME when there are several), with the VAE, umT5, tokenizer and CLIP found beside it.

example:
  scail serve --checkpoint SCAIL-Preview --data-dir ~/scail-jobs
  scail submit --server http://127.0.0.1:8188 --ref ref.png --pose pose.mp4 --out dance.mp4
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the job server (HTTP API) for one checkpoint",
        description="Serve SCAIL generation jobs over HTTP, one at a time on one device.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--checkpoint", metavar="DIR", help="SCAIL-Preview or SCAIL-2 folder, a DiT file, or a MultiAnimate "
                                                          "folder (its Wan2.1-I2V base beside it)")
    where.add_argument("--models-dir", metavar="DIR",
                       help="a ComfyUI models/ folder or a folder with the official downloads: the DiT and its "
                            "components are found by their headers (scail models --models-dir DIR shows them)")
    parser.add_argument("--dit", metavar="NAME", help="with --models-dir: which DiT when it holds several")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s: this machine "
                        "only; other addresses need --token)")
    parser.add_argument("--port", type=int, default=8188, help="port (default %(default)s)")
    parser.add_argument("--data-dir", metavar="DIR", type=Path, default=Path("scail-server-data"),
                        help="jobs database, uploads and results (default ./%(default)s)")
    parser.add_argument("--token", help="bearer token clients must send (required off loopback)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--pose-weights", metavar="DIR", default=None,
                        help="SCAIL-Pose weights folder for POST /v1/extract (default: $SCAIL_POSE_WEIGHTS; "
                             "without it the server refuses extraction jobs)")
    parser.add_argument("--max-upload-mb", type=int, default=512,
                        help="largest upload per job, all files together (default %(default)s)")
    parser.add_argument("--keep-days", type=float, default=7.0,
                        help="delete finished jobs and their files after this many days (default %(default)s)")
    parser.add_argument("--min-free-space", metavar="SIZE", type=space_arg, default=space_arg("1GB"),
                        help="refuse uploads that would leave less free disk than this in --data-dir, e.g. 1GB, "
                             "500MB or 0 (default 1GB; 1GB = 1024 MB)")
    parser.add_argument("--lora-dir", metavar="DIR", type=Path,
                        help="folder of .safetensors LoRAs that jobs may name in settings.loras (GET /v1/loras); "
                             "without it jobs can only upload their LoRAs")
    parser.add_argument("--max-pixels-frames", metavar="N", type=int,
                        help="largest height x width x frames of one job (default: half the device's memory at 48 "
                             "bytes each, about 890 million on an 80 GB GPU)")
    cluster = parser.add_argument_group("Ray cluster (docs/scale-out.md)")
    cluster.add_argument("--ray", metavar="ADDRESS", help="run jobs on the actors of a Ray cluster: HOST:PORT of "
                         "its head, or 'auto' on the head itself (needs the cluster extra: pip install ray)")
    cluster.add_argument("--ray-actors", type=int, metavar="N", help="this many actors (default: one per "
                         "--ray-gpus-per-actor GPUs of the cluster, more as GPU workers join)")
    cluster.add_argument("--ray-gpus-per-actor", type=float, default=1.0, metavar="G",
                         help="GPUs each actor holds (default %(default)s; 0 with --ray-actors for CPU workers)")
    cluster.add_argument("--ray-cpus-per-actor", type=float, default=1.0, metavar="C",
                         help="CPUs each actor holds (default %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scail_server import Settings, create_app
    from scail_server.app import serve
    from scail_server.settings import ClusterSettings

    from ..extract.weights import WEIGHTS_ENV

    checkpoint = args.checkpoint
    if args.models_dir:
        checkpoint = resolve(args.models_dir, args.dit).checkpoint
    elif args.dit:
        raise InputError("--dit chooses among the DiTs of --models-dir; with --checkpoint give the DiT file itself")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("scail_blender").setLevel(logging.INFO)  # the runner's records are the server log's
    settings = Settings(checkpoint=Path(checkpoint), data_dir=args.data_dir, host=args.host, port=args.port,
                        token=args.token, device=args.device, max_upload_mb=args.max_upload_mb,
                        keep_days=args.keep_days, min_free_mb=args.min_free_space, lora_dir=args.lora_dir,
                        max_pixels_frames=args.max_pixels_frames,
                        pose_weights=_pose_weights(args.pose_weights or os.environ.get(WEIGHTS_ENV)),
                        ray=None if args.ray is None else ClusterSettings(
                            address=args.ray, actors=args.ray_actors, gpus_per_actor=args.ray_gpus_per_actor,
                            cpus_per_actor=args.ray_cpus_per_actor))
    app = create_app(settings)
    serve(app, settings)
    return 0


SPACE_UNITS = {"b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30,
               "t": 2**40, "tb": 2**40}


def space_arg(text: str) -> int:
    """argparse type for ``--min-free-space``: a size such as 1GB, 500MB or 0, in whole MB."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if match is not None and float(match.group(1)) == 0:
        return 0
    if match is None or match.group(2) not in SPACE_UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size with its unit; give one such as 1GB, 500MB or 0")
    return round(float(match.group(1)) * SPACE_UNITS[match.group(2)] / 2**20)


def _pose_weights(folder: str | None) -> Path | None:
    return Path(folder).expanduser() if folder else None
