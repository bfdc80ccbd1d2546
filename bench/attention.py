"""Self-attention kernels at the DiT's real shape, timed in one run, with each one's error.

The shape is a 14B step's self-attention: CFG as a batch of two, 40 heads of 128, 48,832 tokens
(512x896, 81 frames). Every kernel of engine/models/attention.py that can run here is timed
(warm, CUDA events, mean of --repeat) and reported as milliseconds per call, TFLOP/s
(4 * B * H * L^2 * D FLOPs) and the relative error (Frobenius norm of the difference over the
norm of the reference) of its output against float64 attention on a sample of query rows, so
that an 8-bit kernel's cost in accuracy is printed beside its speed. A kernel whose package is
absent is listed with the reason. The query/key scale (--logit-std) sets how peaked the softmax
is: 1 gives logits of unit spread, 3 a sharper attention closer to a trained model's heads.

    python bench/attention.py --json attention.json
    python bench/attention.py --tokens 4096 --heads 4 --device cpu --kernels sdpa,math,sage
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scail_blender.engine.models.attention import KERNELS, attention  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--heads", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=48832)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--kernels", default=",".join(k for k in KERNELS if k != "math"),
                        help="comma list (default: all but math, which needs L x L memory)")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rows", type=int, default=256, help="query rows checked against float64")
    parser.add_argument("--logit-std", type=float, default=1.0)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def reference_rows(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """float64 attention of the sampled query rows of batch 0 over every key, head by head."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    out = []
    for h in range(q.shape[1]):
        qh = q[0, h, rows].double()
        scores = (qh @ k[0, h].double().T) * scale
        out.append(torch.softmax(scores, dim=-1) @ v[0, h].double())
    return torch.stack(out)


def timed_ms(fn, device: torch.device, warmup: int, repeat: int) -> tuple[list[float], torch.Tensor]:
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            out = fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return times, out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    shape = (args.batch, args.tokens, args.heads, args.head_dim)
    # [B, L, H, D] storage viewed as [B, H, L, D], as the DiT's projections hand it to attention.
    q, k, v = (torch.randn(shape, device=device, dtype=dtype, generator=gen).transpose(1, 2) for _ in range(3))
    spread = math.sqrt(args.logit_std)
    q, k = q * spread, k * spread
    rows = torch.randperm(args.tokens, device=device, generator=gen)[: args.rows]
    ref = reference_rows(q, k, v, rows)
    flops = 4.0 * args.batch * args.heads * args.tokens**2 * args.head_dim
    names = [n.strip() for n in args.kernels.split(",") if n.strip()]
    results: dict[str, dict] = {}
    print(f"attention B={args.batch} H={args.heads} L={args.tokens} D={args.head_dim} {args.dtype} "
          f"logit std {args.logit_std} on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}")
    print(f"{'kernel':<10} {'ms':>9} {'TFLOP/s':>9} {'rel err':>10}")
    for name in names:
        try:
            times, out = timed_ms(lambda n=name: attention(q, k, v, n), device, args.warmup, args.repeat)
        except (RuntimeError, ValueError, ImportError) as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            print(f"{name:<10} {'-':>9} {'-':>9} {'-':>10}  {results[name]['error'][:90]}")
            continue
        got = out[0, :, rows].double()
        err = ((got - ref).norm() / ref.norm()).item()
        ms = statistics.mean(times)
        results[name] = {"ms": ms, "ms_min": min(times), "tflops": flops / (ms / 1e3) / 1e12, "rel_error": err}
        print(f"{name:<10} {ms:9.2f} {results[name]['tflops']:9.1f} {err:10.2e}")
    base_name = next((n for n in ("cudnn", "auto", "sdpa") if "ms" in results.get(n, {})), None)
    if base_name:
        base = results[base_name]["ms"]
        print(f"speed vs {base_name}: " + ", ".join(f"{n} {base / r['ms']:.3f}x" for n, r in results.items() if "ms" in r))
    report = {"shape": dict(batch=args.batch, heads=args.heads, tokens=args.tokens, head_dim=args.head_dim),
              "dtype": args.dtype, "logit_std": args.logit_std, "device": str(device),
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
              "torch": torch.__version__, "kernels": results}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
