"""Time one forward of the SCAIL DiT with random weights: seconds per forward and peak memory.

The default is the real job: the full 14B architecture at 512x896, 81 frames (48,832 tokens in
self-attention), bf16 on a GPU. Weights are created directly in their dtype on the device (the
model is built on the meta device first), so this needs one copy of the model, as inference does.

    python bench/dit_forward.py                      # 14B, 512x896x81, cuda, bf16
    python bench/dit_forward.py --variant scail2     # with SCAIL-2's mask embedding
    python bench/dit_forward.py --config tiny --device cpu --size 64x64 --frames 5 --dtype float32

Prints tokens, seconds per forward (warm, synchronised, mean of --repeat), achieved TFLOP/s from
the analytic matmul count, and peak memory (torch.cuda.max_memory_allocated on CUDA).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scail_blender.engine.testing import init_random_
from scail_blender.engine.models.dit import DitConfig, ScailDiT, add_mask_channels

VAE_STRIDE = (4, 8, 8)
CLIP_TOKENS = 257


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="14B", choices=["14B", "1.3B", "tiny"])
    parser.add_argument("--variant", default="scail", choices=["scail", "scail2"])
    parser.add_argument("--size", default="512x896", help="video HxW in pixels (multiples of 32)")
    parser.add_argument("--frames", type=int, default=81, help="video frames (4k+1)")
    parser.add_argument("--batch", type=int, default=1, help="2 = conditional and unconditional together")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--repeat", type=int, default=3, help="timed forwards")
    parser.add_argument("--warmup", type=int, default=1, help="untimed forwards first")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def forward_flops(config: DitConfig, tokens: int, context: int) -> float:
    """Multiply-add FLOPs of the matrix products of one forward (norms, RoPE, softmax left out)."""
    d, f = config.dim, config.ffn_dim
    per_block = (
        2 * tokens * d * d * 4          # self-attention q, k, v, o
        + 2 * 2 * tokens * tokens * d   # q k^T and attention x v
        + 2 * tokens * d * d * 2        # cross-attention q, o
        + 2 * context * d * d * 4       # cross-attention k, v, k_img, v_img
        + 2 * 2 * tokens * context * d  # cross-attention scores and values
        + 2 * tokens * d * f * 2        # MLP
    )
    return config.num_layers * per_block


def make_inputs(config: DitConfig, batch: int, frames: int, height: int, width: int,
                device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    t_lat = (frames - 1) // VAE_STRIDE[0] + 1
    h, w = height // VAE_STRIDE[1], width // VAE_STRIDE[2]
    rand = lambda *shape: torch.randn(*shape, device=device, dtype=dtype)  # noqa: E731
    inputs = dict(
        x=add_mask_channels(rand(batch, 16, t_lat, h, w), 0),
        t=torch.full((batch,), 900.0, device=device),
        context=rand(batch, config.text_len, config.text_dim),
        clip_fea=rand(batch, CLIP_TOKENS, config.clip_dim),
        ref=add_mask_channels(rand(batch, 16, 1, h, w), 1),
        pose=add_mask_channels(rand(batch, 16, t_lat, h // 2, w // 2), 1),
    )
    if config.variant == "scail2":
        inputs["ref_mask"] = (rand(batch, config.mask_dim, 1 + t_lat, h, w) > 0).to(dtype)
        inputs["pose_mask"] = (rand(batch, config.mask_dim, t_lat, h // 2, w // 2) > 0).to(dtype)
    return inputs


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    height, width = (int(v) for v in args.size.lower().split("x"))
    config = DitConfig.preset(args.config, args.variant)

    with torch.device("meta"):
        model = ScailDiT(config).to(dtype)
    model = init_random_(model.to_empty(device=device), seed=0).eval().requires_grad_(False)
    weights_gb = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e9
    inputs = make_inputs(config, args.batch, args.frames, height, width, device, dtype)
    layout = model.check_inputs(**{k: inputs.get(k) for k in (
        "x", "t", "context", "clip_fea", "ref", "pose", "ref_mask", "pose_mask")},
        extra_refs=None, extra_ref_masks=None)
    context_tokens = config.text_len + CLIP_TOKENS

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.inference_mode():
        for i in range(args.warmup + args.repeat):
            synchronize(device)
            start = time.perf_counter()
            out = model(**inputs)
            synchronize(device)
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
    if not torch.isfinite(out).all():
        print("warning: non-finite values in the output (random weights)", file=sys.stderr)

    seconds = statistics.mean(times)
    flops = forward_flops(config, layout.total, context_tokens) * args.batch
    result = {
        "config": args.config, "variant": args.variant, "size": [height, width], "frames": args.frames,
        "batch": args.batch, "dtype": args.dtype, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "tokens": layout.total, "weights_gb": round(weights_gb, 2),
        "seconds_per_forward": seconds, "seconds_min": min(times),
        "seconds_stdev": statistics.stdev(times) if len(times) > 1 else 0.0,
        "tflop_per_forward": flops / 1e12, "tflops_achieved": flops / seconds / 1e12,
        "peak_memory_gb": (torch.cuda.max_memory_allocated(device) / 1e9
                           if device.type == "cuda" else None),
        "output_shape": list(out.shape),
    }
    print(f"SCAIL DiT {args.config} ({args.variant}) {height}x{width}x{args.frames}, batch {args.batch}, "
          f"{args.dtype} on {result['device_name']}, torch {torch.__version__}")
    print(f"tokens in self-attention: {layout.total:,}; weights {weights_gb:.2f} GB")
    print(f"seconds per forward: {seconds:.3f} (min {min(times):.3f}, n={len(times)}); "
          f"{result['tflop_per_forward']:.0f} TFLOP -> {result['tflops_achieved']:.0f} TFLOP/s")
    if result["peak_memory_gb"] is not None:
        print(f"peak memory allocated: {result['peak_memory_gb']:.2f} GB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
