"""Job server overheads on loopback, and how fast it answers while a job computes.

A real ``scail serve`` process on the tiny random checkpoint gets a job with real-size files: an
81-frame 512x896 pose video and a 512x896 reference. The upload, the server's checks (image
decode, a full decode of the video to count its frames), queueing, event delivery and the
download are what a real job pays too. The tiny model's own work is not: its cost at 512x896
on a CPU is minutes of VAE and DiT time, so the job asks for a small output of the same aspect
(--size, default 128x224) and the pipeline reads and resizes the real-size frames. Times come from
the client's clock at each server-sent event (loopback: sub-millisecond delivery), so every
segment below is measured, none estimated. ``GET /v1/health`` is timed in a loop while the job
runs, and on the idle server before it, for the ratio.

    python bench/server.py [--steps 4] [--size 128x224] [--frames 81] [--device cuda]

With ``--ray`` it measures the scale-out instead: a loopback Ray head started here (token auth,
CPU only), then the same batch of small jobs (64x64 from the 5-frame pose video, --steps) through
``scail serve --ray`` with 1 and with 2 actors, and through the local runner. It prints jobs per
minute for each and the time per job Ray adds over the local runner (one actor, jobs in a row).
Every actor and the local runner compute with one thread, so 2 actors need 2 free cores.

    python bench/server.py --ray [--jobs 12] [--steps 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from scail_blender.jobs.client import ScailClient
from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.jobs.status import JobStatus
from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
from scail_blender.pose.framing import parse_size
from scail_blender.media.video import write_video
from tools.ray_head import local_head

H, W = 512, 896


def pose_frames(count: int):
    """Pose-video-like frames: coloured limbs moving on black (they compress like real ones)."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
    for t in range(count):
        frame = np.zeros((H, W, 3), np.uint8)
        for k, colour in enumerate(colours):
            x = int(200 + 90 * k + 80 * np.sin(t / 8 + k))
            y = int(120 + 60 * np.cos(t / 6 + k))
            frame[y:y + 220, x:x + 28] = colour
        yield frame


def reference_image(path: Path) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    image = np.stack([xx * 255 // W, yy * 255 // H, (xx + yy) % 256], -1) + rng.integers(0, 16, (H, W, 3))
    Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(checkpoint: Path, data: Path, *extra: str, env: dict[str, str] | None = None, device: str = "cpu"):
    port = free_port()
    env = dict(env or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "server"), env.get("PYTHONPATH")]))
    data.mkdir(parents=True, exist_ok=True)
    log = data.parent / f"{data.name}.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "scail_blender.cli", "serve", "--checkpoint", str(checkpoint),
                                 "--data-dir", str(data), "--port", str(port), "--device", device, *extra],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(url + "/v1/health", timeout=2)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace").splitlines()[-15:]
                    raise SystemExit("the server did not start; its last lines:\n" + "\n".join(tail)) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.kill()
        proc.wait(30)


def health_latencies(url: str, stop: threading.Event, out: list[float], limit: int = 0) -> None:
    session = requests.Session()
    while not stop.is_set() and (not limit or len(out) < limit):
        start = time.perf_counter()
        session.get(url + "/v1/health", timeout=10).raise_for_status()
        out.append(time.perf_counter() - start)


def percentiles(samples: list[float]) -> str:
    ms = sorted(1000 * s for s in samples)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    return f"p50 {statistics.median(ms):6.2f} ms  p99 {p99:6.2f} ms  ({len(ms)} requests)"


def batch(url: str, job: Job, count: int, warm: int) -> tuple[float, list[JobStatus]]:
    """Warm ``warm`` workers up (their model loads), then the wall time of ``count`` jobs submitted at once."""
    client = ScailClient(url)
    for status in [client.submit(job) for _ in range(warm)]:
        client.wait(status.id)
    t0 = time.perf_counter()
    ids = [client.submit(job).id for _ in range(count)]
    finals = [client.wait(i) for i in ids]
    wall = time.perf_counter() - t0
    failed = [s for s in finals if s.state != "succeeded"]
    if failed:
        raise SystemExit(f"{len(failed)} jobs did not succeed: {failed[0]}")
    return wall, finals


def ray_main(args: argparse.Namespace) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0",
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "server")]))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        checkpoint = write_tiny_checkpoint(tmp / "ck")
        rng = np.random.default_rng(0)
        write_video([(rng.random((64, 64, 3)) * 255).astype(np.uint8) for _ in range(5)], tmp / "pose.mp4", 12)
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(tmp / "ref.png")
        job = Job(inputs=JobInputs(reference_image=str(tmp / "ref.png"), pose_video=str(tmp / "pose.mp4"),
                                   prompt="a person dances"),
                  settings=JobSettings(steps=args.steps, cfg=1.0, height=64, width=64))
        walls: dict[str, float] = {}
        runs: dict[str, list[JobStatus]] = {}
        with server(checkpoint, tmp / "local", env=env) as url:
            walls["local runner"], runs["local runner"] = batch(url, job, args.jobs, warm=1)
        with local_head(tmp / "ray", 2, env) as address:
            for actors in (1, 2):
                name = f"ray, {actors} actor{'s' * (actors > 1)}"
                with server(checkpoint, tmp / f"ray{actors}", "--ray", address, "--ray-actors", str(actors),
                            "--ray-gpus-per-actor", "0", env=env) as url:
                    walls[name], runs[name] = batch(url, job, args.jobs, warm=2 * actors)
    print(f"{args.jobs} jobs of 64x64, 5 frames, {args.steps} step(s), tiny model, CPU, one thread per worker; "
          f"{os.cpu_count()} cores on this machine")
    for name, wall in walls.items():
        run = statistics.mean(s.finished - s.started for s in runs[name])
        print(f"  {name:16s} {args.jobs / wall * 60:7.1f} jobs/min  ({wall:6.2f} s in all, "
              f"{run * 1000:7.1f} ms started -> finished per job)")
    local, one = walls["local runner"] / args.jobs, walls["ray, 1 actor"] / args.jobs
    print(f"2 actors / 1 actor: {walls['ray, 1 actor'] / walls['ray, 2 actors']:.2f}x the jobs per minute")
    print(f"Ray's overhead per job (1 actor vs the local runner, jobs in a row): {(one - local) * 1000:.1f} ms")


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up that stops the server
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", default="128x224", help="output HxW the tiny model computes (default %(default)s)")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--ray", action="store_true", help="measure scail serve --ray: 1 vs 2 actors, overhead")
    parser.add_argument("--jobs", type=int, default=12, help="jobs per batch with --ray (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="where the server computes: cpu (default) or cuda")
    args = parser.parse_args()
    if args.ray:
        ray_main(args)
        return
    height, width = parse_size(args.size)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        checkpoint = write_tiny_checkpoint(tmp / "ck")
        write_video(pose_frames(args.frames), tmp / "pose.mp4", 16)
        reference_image(tmp / "ref.png")
        sizes = {name: (tmp / name).stat().st_size for name in ("pose.mp4", "ref.png")}
        job = Job(inputs=JobInputs(reference_image=str(tmp / "ref.png"), pose_video=str(tmp / "pose.mp4"),
                                   prompt="a person dances"),
                  settings=JobSettings(steps=args.steps, cfg=1.0, height=height, width=width))
        with server(checkpoint, tmp / "data", device=args.device) as url:
            client = ScailClient(url)
            idle: list[float] = []
            health_latencies(url, threading.Event(), [], limit=50)  # warm the server's first requests up
            health_latencies(url, threading.Event(), idle, limit=500)
            # A first, short job loads the model, so the measured job meets a warm server as in production.
            warm = Job(inputs=job.inputs, settings=JobSettings(steps=1, cfg=1.0, height=height, width=width,
                                                               max_frames=5))
            client.wait(client.submit(warm).id)

            busy: list[float] = []
            stop = threading.Event()
            times: dict[str, float] = {}
            t0 = time.perf_counter()
            status = client.submit(job)
            times["accepted"] = time.perf_counter()
            pinger = threading.Thread(target=health_latencies, args=(url, stop, busy))
            pinger.start()
            for event in client.events(status.id):
                now = time.perf_counter()
                key = event.state if event.state != "running" or event.phase is None else f"{event.phase}:{event.step}"
                times.setdefault(key, now)
                if event.state == "running":
                    times.setdefault("running", now)
            stop.set()
            pinger.join(30)
            client.download(status.id, tmp / "result.mp4")
            times["downloaded"] = time.perf_counter()
            final = client.get(status.id)

    steps = args.steps
    first, last = times["denoise:0"], times[f"denoise:{steps}"]
    print(f"inputs: pose {args.frames} frames 512x896 ({sizes['pose.mp4'] / 1e6:.2f} MB), reference 512x896 "
          f"({sizes['ref.png'] / 1e6:.2f} MB); output {height}x{width}, {steps} steps, tiny model, {args.device}")
    print("timeline, ms after the POST began (first event of each phase):")
    for key, at in sorted(times.items(), key=lambda item: item[1]):
        if ":" not in key or key.endswith(":0") or key == f"denoise:{steps}":
            print(f"  {key:14s} {1000 * (at - t0):10.1f}")
    print("server overhead (what a real job pays on top of the model's work):")
    print(f"  upload + checks (POST round trip, {sum(sizes.values()) / 1e6:.2f} MB)  "
          f"{1000 * (times['accepted'] - t0):8.1f} ms")
    print(f"  accepted -> running event                 {1000 * (times['running'] - times['accepted']):8.1f} ms")
    print(f"  succeeded event -> mp4 downloaded         {1000 * (times['downloaded'] - times['succeeded']):8.1f} ms")
    print(f"with the tiny model's work on {args.device} (its VAE dominates; a real job's DiT differs):")
    print(f"  upload -> first denoising step            {1000 * (first - t0):8.1f} ms")
    print(f"  last denoising step -> result downloaded  {1000 * (times['downloaded'] - last):8.1f} ms")
    print(f"  of which writing the mp4 (write phase)    {1000 * (times['succeeded'] - times['write:0']):8.1f} ms")
    print(f"  server's job time (started -> finished)   {1000 * (final.finished - final.started):8.1f} ms")
    print(f"GET /v1/health idle:      {percentiles(idle)}")
    print(f"GET /v1/health job runs:  {percentiles(busy)}")
    print(f"p99 ratio busy/idle: {np.percentile(busy, 99) / np.percentile(idle, 99):.1f}x")


if __name__ == "__main__":
    main()
