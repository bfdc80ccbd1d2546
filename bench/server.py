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

    python bench/server.py [--steps 4] [--size 128x224] [--frames 81]
"""

from __future__ import annotations

import argparse
import contextlib
import os
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

from scail_blender.backend.client import ScailClient
from scail_blender.backend.jobs import Job, JobInputs, JobSettings
from scail_blender.backend.tiny_checkpoint import write_tiny_checkpoint
from scail_blender.pose.framing import parse_size
from scail_blender.pose.video import write_video

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
def server(checkpoint: Path, data: Path):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "server")]))
    proc = subprocess.Popen([sys.executable, "-m", "scail_blender.cli", "serve", "--checkpoint", str(checkpoint),
                             "--data-dir", str(data), "--port", str(port), "--device", "cpu"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(url + "/v1/health", timeout=2)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
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


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up that stops the server
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", default="128x224", help="output HxW the tiny model computes (default %(default)s)")
    parser.add_argument("--frames", type=int, default=81)
    args = parser.parse_args()
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
        with server(checkpoint, tmp / "data") as url:
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
          f"({sizes['ref.png'] / 1e6:.2f} MB); output {height}x{width}, {steps} steps, tiny model, CPU")
    print("timeline, ms after the POST began (first event of each phase):")
    for key, at in sorted(times.items(), key=lambda item: item[1]):
        if ":" not in key or key.endswith(":0") or key == f"denoise:{steps}":
            print(f"  {key:14s} {1000 * (at - t0):10.1f}")
    print("server overhead (what a real job pays on top of the model's work):")
    print(f"  upload + checks (POST round trip, {sum(sizes.values()) / 1e6:.2f} MB)  "
          f"{1000 * (times['accepted'] - t0):8.1f} ms")
    print(f"  accepted -> running event                 {1000 * (times['running'] - times['accepted']):8.1f} ms")
    print(f"  succeeded event -> mp4 downloaded         {1000 * (times['downloaded'] - times['succeeded']):8.1f} ms")
    print("with the tiny model's work (its VAE on CPU dominates; a real GPU job differs):")
    print(f"  upload -> first denoising step            {1000 * (first - t0):8.1f} ms")
    print(f"  last denoising step -> result downloaded  {1000 * (times['downloaded'] - last):8.1f} ms")
    print(f"  of which writing the mp4 (write phase)    {1000 * (times['succeeded'] - times['write:0']):8.1f} ms")
    print(f"  server's job time (started -> finished)   {1000 * (final.finished - final.started):8.1f} ms")
    print(f"GET /v1/health idle:      {percentiles(idle)}")
    print(f"GET /v1/health job runs:  {percentiles(busy)}")
    print(f"p99 ratio busy/idle: {np.percentile(busy, 99) / np.percentile(idle, 99):.1f}x")


if __name__ == "__main__":
    main()
