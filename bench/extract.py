"""Extraction throughput with tiny stand-in networks: the pipeline's own work, and memory flatness.

The official networks are replaced by the stand-ins of ``scail_blender/extract/testing.py`` (a few
ONNX ops and a scripted module), so what is timed is what this project wrote: video decoding,
letterbox and crops, YOLOX/SimCC decoding, NMS, NLF masking and batching, tracking, lifting the
marks. Time inside the stand-ins is measured apart and subtracted. One CPU thread, 512x896 mp4s
of two people crossing (one leaves and comes back, a third appears); peak traced memory at two
clip lengths (both longer than one NLF batch of 64) shows whether memory grows with the clip.

    python bench/extract.py [--frames 96] [--long-frames 288]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scail_blender.extract.detector import PersonDetector
from scail_blender.extract.nlf3d import load_nlf
from scail_blender.extract.pipeline import ExtractOptions, Models, run
from scail_blender.extract.runtime import onnx_session
from scail_blender.extract.testing import Scene, crossing_scene, write_scene, write_tiny_weights
from scail_blender.extract.weights import find_weights
from scail_blender.extract.wholebody import WholeBody
from scail_blender.media.video import probe_header, read_video

SIZE = (512, 896)


class Stopwatch:
    """Total CPU seconds spent inside the wrapped networks (CPU time, not wall time: the
    benchmark machine may be shared, and CPU time of one thread is what the work costs)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def session(self, session):
        watch = self

        class Timed:
            def get_inputs(self):
                return session.get_inputs()

            def get_outputs(self):
                return session.get_outputs()

            def run(self, *args, **kwargs):
                start = time.process_time()
                try:
                    return session.run(*args, **kwargs)
                finally:
                    watch.seconds += time.process_time() - start

        return Timed()

    def nlf(self, model):
        watch = self

        class Timed:
            def detect_smpl_batched(self, images):
                start = time.process_time()
                try:
                    return model.detect_smpl_batched(images)
                finally:
                    watch.seconds += time.process_time() - start

        return Timed()


def scene(frames: int) -> Scene:
    """The test scene at 512x896, looped to ``frames`` frames."""
    base = crossing_scene()
    rects = [[None if r is None else tuple(2 * v for v in r) for r in (person[t % base.frames] for t in range(frames))]
             for person in base.rects]
    return Scene(SIZE, rects)


def measure(video: Path, weights: Path, traced: bool) -> tuple[float, float, float, float, int]:
    """(wall s, CPU s, CPU s inside the stand-ins, peak traced MiB, frames) of one extraction.
    CPU time includes the ffmpeg decoder only through the pipe reads (its own process is not counted)."""
    import torch

    torch.set_num_threads(1)
    files = find_weights(weights)
    watch = Stopwatch()
    models = Models(PersonDetector(watch.session(onnx_session(files.yolox, "cpu"))),
                    WholeBody(watch.session(onnx_session(files.dwpose, "cpu"))),
                    watch.nlf(load_nlf(files.nlf, "cpu")), "cpu")
    info = probe_header(video)
    if traced:
        tracemalloc.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = run(read_video(video, exact_count=False), info.fps, models, ExtractOptions(device="cpu"), total=info.frames)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else 0.0
    if traced:
        tracemalloc.stop()
    return wall, cpu, watch.seconds, peak, result.motion.frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--long-frames", type=int, default=288)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = write_tiny_weights(folder / "weights")
        short = write_scene(scene(args.frames), folder / "short.mp4")
        long = write_scene(scene(args.long_frames), folder / "long.mp4")
        measure(short, weights, traced=False)  # warm-up: imports, first sessions
        wall, cpu, inside, _, frames = measure(short, weights, traced=False)
        own = cpu - inside
        print(f"{frames} frames at {SIZE[0]}x{SIZE[1]}, 2-3 people, 1 thread, load average {os.getloadavg()[0]:.1f}")
        print(f"  whole pipeline:         {frames / wall:7.1f} frames/s wall ({wall:.2f} s), {frames / cpu:.1f} per CPU second")
        print(f"  inside the stand-ins:   {inside:.2f} CPU s")
        print(f"  pipeline's own work:    {frames / own:7.1f} frames per CPU second ({own:.2f} s: letterbox, crops, "
              "decoding, NMS, masks, tracking, marks, reading the decoder's pipe)")
        *_, peak_short, n_short = measure(short, weights, traced=True)
        *_, peak_long, n_long = measure(long, weights, traced=True)
        print(f"  peak traced memory:     {peak_short:.1f} MiB at {n_short} frames, {peak_long:.1f} MiB at {n_long} frames "
              f"(ratio {peak_long / peak_short:.2f} for {n_long / n_short:.1f}x the frames)")


if __name__ == "__main__":
    main()
