"""Seconds per sampling step of the SCAIL DiT on 1, 2, 4... ranks of one host, and the speed-ups.

A step is what the pipeline runs per sampling step: one forward of the CFG batch of two
(conditional and unconditional), here with random weights. For each N in --gpus this starts a
device group of N processes itself (no torchrun), exactly as `scail generate --gpus N` does:
CFG parallel over two halves when N is even, Ulysses sequence parallel inside each half.

    python bench/dit_parallel.py --gpus 1 2 4                 # 14B, 512x896x81, bf16, CUDA
    python bench/dit_parallel.py --gpus 1 2 --config tiny --device cpu --size 64x64 --frames 5 \\
        --dtype float32 --repeat 2                              # smoke run on the CPU (gloo)

Prints, per N: seconds per step (warm, synchronised, mean of --repeat), the speed-up over the
first N listed, and the peak allocated memory of every GPU; --json writes the same.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dit_forward import make_inputs

from scail_blender.engine.models.dit import DitConfig, ScailDiT
from scail_blender.engine.parallel import DeviceGroup
from scail_blender.engine.parallel.ranks import Leader
from scail_blender.engine.testing import init_random_


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2, 4], help="group sizes to time, in order")
    parser.add_argument("--config", default="14B", choices=["14B", "1.3B", "tiny"])
    parser.add_argument("--variant", default="scail", choices=["scail", "scail2"])
    parser.add_argument("--size", default="512x896", help="video HxW in pixels (multiples of 32)")
    parser.add_argument("--frames", type=int, default=81, help="video frames (4k+1)")
    parser.add_argument("--batch", type=int, default=2, help="2: a CFG step (the default); 1: guidance off")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--shard-weights", action="store_true", help="FSDP2-shard the weights over the ranks")
    parser.add_argument("--repeat", type=int, default=3, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class RandomSource:
    """Seeded random weights built directly on each rank's device (no checkpoint to read)."""

    config: DitConfig
    seed: int = 0

    def check(self) -> DitConfig:
        return self.config

    def build(self, device: torch.device, dtype: torch.dtype) -> ScailDiT:
        with torch.device("meta"):
            model = ScailDiT(self.config).to(dtype)
        return init_random_(model.to_empty(device=device), self.seed).eval().requires_grad_(False)


@dataclass(frozen=True)
class TimeSteps:
    """Rank 0 task: load the DiT on the group, run warm-up and timed steps, report times and memory."""

    source: RandomSource
    dtype: torch.dtype
    shard: bool
    batch: int
    frames: int
    height: int
    width: int
    warmup: int
    repeat: int

    def __call__(self, leader: Leader, report, cancel: threading.Event) -> dict:
        dit = leader.load_dit(self.source, self.dtype, self.shard)
        inputs = make_inputs(self.source.config, self.batch, self.frames, self.height, self.width,
                             leader.device, self.dtype)
        leader.peak_memory_gb(reset=True)
        times = []
        for i in range(self.warmup + self.repeat):
            _synchronize(leader.device)
            start = time.perf_counter()
            out = dit(**inputs)
            _synchronize(leader.device)
            if i >= self.warmup:
                times.append(time.perf_counter() - start)
        peaks = leader.peak_memory_gb()
        dit.release()
        return {"seconds_per_step": statistics.mean(times), "seconds_min": min(times),
                "seconds_stdev": statistics.stdev(times) if len(times) > 1 else 0.0,
                "peak_memory_gb": peaks, "output_shape": list(out.shape),
                "finite": bool(torch.isfinite(out).all())}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    config = DitConfig.preset(args.config, args.variant)
    task = TimeSteps(RandomSource(config), getattr(torch, args.dtype), args.shard_weights, args.batch,
                     args.frames, height, width, args.warmup, args.repeat)
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"SCAIL DiT {args.config} ({args.variant}) {height}x{width}x{args.frames}, batch {args.batch}, "
          f"{args.dtype} on {device_name}, torch {torch.__version__}, "
          f"{'sharded' if args.shard_weights else 'replicated'} weights")
    runs = []
    for size in args.gpus:
        with DeviceGroup(size, args.device) as group:
            result = group.run(task)
        result["gpus"] = size
        result["speedup"] = runs[0]["seconds_per_step"] / result["seconds_per_step"] if runs else 1.0
        runs.append(result)
        memory = ("" if result["peak_memory_gb"] is None else
                  "; peak memory GB per GPU " + ", ".join(f"{m:.1f}" for m in result["peak_memory_gb"]))
        print(f"{size} rank(s): {result['seconds_per_step']:.3f} s/step (min {result['seconds_min']:.3f}, "
              f"n={args.repeat}); speed-up {result['speedup']:.2f}x over {args.gpus[0]}{memory}", flush=True)
        if not result["finite"]:
            print("warning: non-finite values in the output (random weights)", file=sys.stderr)
    summary = {"config": args.config, "variant": args.variant, "size": [height, width], "frames": args.frames,
               "batch": args.batch, "dtype": args.dtype, "device": args.device, "device_name": device_name,
               "torch": torch.__version__, "shard_weights": args.shard_weights, "runs": runs}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
