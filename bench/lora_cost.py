"""What a LoRA stack costs the SCAIL DiT: merge time, and per step the time and memory of live LoRAs.

Random weights at the real job's shapes (14B, 512x896, 81 frames: 48,832 tokens; batch 2 as CFG
runs), and random LoRAs of --rank on every linear layer of the blocks (what the lightx2v distill
LoRAs cover), read through ``read_lora`` from a state dict in the lightx2v key layout. For the plain
model, then a live stack of 1 .. --loras LoRAs, it records seconds per forward of the batch of two
(one CFG step) and the peak GPU memory; it also times merging the stack into the weights (the
pairs as read, on the host, as ``prepare_dit`` merges them) and the GPU memory the live pairs hold.

    python bench/lora_cost.py --json lora.json                      # H100/H200-class GPU
    python bench/lora_cost.py --config tiny --device cpu --size 64x64 --frames 5 --dtype float32
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dit_forward import make_inputs, synchronize

from scail_blender.engine.lora import Lora, attach_lora, merge_lora, read_lora
from scail_blender.engine.models.dit import DitConfig, ScailDiT
from scail_blender.engine.testing import init_random_


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="14B", choices=["14B", "1.3B", "tiny"])
    parser.add_argument("--size", default="512x896", help="video HxW in pixels (multiples of 32)")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--loras", type=int, default=2, help="the largest live stack timed")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def random_lora(model: ScailDiT, rank: int, seed: int) -> Lora:
    """A LoRA of ``rank`` on every linear layer of the blocks, in lightx2v keys, bf16 as published."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, module in model.blocks.named_modules():
        if isinstance(module, nn.Linear):
            stem = f"diffusion_model.blocks.{name}"
            state[f"{stem}.lora_down.weight"] = torch.randn(rank, module.in_features, generator=g).bfloat16()
            state[f"{stem}.lora_up.weight"] = (torch.randn(module.out_features, rank, generator=g) * 1e-3).bfloat16()
            state[f"{stem}.alpha"] = torch.tensor(float(rank))
    return read_lora(state, model)


def timed_forward(model: ScailDiT, inputs: dict, device: torch.device, warmup: int, repeat: int) -> dict:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeat):
            synchronize(device)
            start = time.perf_counter()
            model(**inputs)
            synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    return {"seconds": statistics.mean(times), "seconds_min": min(times), "peak_memory_gb": peak}


def allocated_gb(device: torch.device) -> float | None:
    return torch.cuda.memory_allocated(device) / 1e9 if device.type == "cuda" else None


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    height, width = (int(v) for v in args.size.lower().split("x"))
    config = DitConfig.preset(args.config, "scail")
    with torch.device("meta"):
        model = ScailDiT(config).to(dtype)
    model = init_random_(model.to_empty(device=device), seed=0).eval().requires_grad_(False)
    inputs = make_inputs(config, 2, args.frames, height, width, device, dtype)
    loras = [random_lora(model, args.rank, seed) for seed in range(args.loras)]
    numbers = sum(part.down.numel() + part.up.numel() for part in loras[0].low_rank.values())
    result = {"config": args.config, "size": [height, width], "frames": args.frames, "rank": args.rank,
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "lora_numbers": numbers, "lora_modules": len(loras[0].low_rank)}
    result["plain"] = timed_forward(model, inputs, device, args.warmup, args.repeat)
    print(json.dumps({"plain": result["plain"]}), flush=True)
    for count in range(1, args.loras + 1):
        before = allocated_gb(device)
        hooks = [hook for lora in loras[:count] for hook in attach_lora(model, lora, 1.0, device)]
        held = None if before is None else allocated_gb(device) - before
        result[f"live_{count}"] = {**timed_forward(model, inputs, device, args.warmup, args.repeat),
                                   "pairs_gb": held}
        print(json.dumps({f"live_{count}": result[f"live_{count}"]}), flush=True)
        for hook in hooks:
            hook.remove()
    synchronize(device)
    start = time.perf_counter()
    for lora in loras:
        merge_lora(model, lora, 1.0)
    synchronize(device)
    result["merge_seconds"] = time.perf_counter() - start
    result["merged"] = timed_forward(model, inputs, device, args.warmup, args.repeat)
    print(json.dumps({"merge_seconds": result["merge_seconds"], "merged": result["merged"]}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
