"""Seconds per sampling step (CFG: two forwards) of the SCAIL DiT in every speed mode, in one run.

The default is the real job: 14B shapes, 512x896, 81 frames (48,832 tokens in self-attention),
random bf16 weights on one GPU. For each mode it prints and records seconds per step (warm,
synchronised, mean of --repeat), achieved TFLOP/s (analytic matmul count, bench/dit_forward.py),
peak GPU memory, and the relative error of the step's guided velocity against the plain bf16 path
on the same inputs. It then times the other stages of a window: VAE encode of the 81-frame pose
clip, VAE decode of the 21 latent frames (whole and tiled), umT5 on the two prompts, CLIP on the
reference.

    python bench/dit_step.py --json step.json                    # every mode, H100/H200-class GPU
    python bench/dit_step.py --modes plain,auto,fp8              # a subset (plain always runs)
    python bench/dit_step.py --config tiny --device cpu --size 64x64 --frames 5 --dtype float32

Modes (speed.py; all but the defaults are off in a real job):
  plain          exact attention with torch's own kernel choice, CFG as a batch of two
  auto           exact attention, kernel pinned (cuDNN > flash > efficient); the job default
  cfg-passes     auto, CFG as two forwards of batch 1
  sage           8-bit self-attention (sageattention package; skipped with the reason if absent)
  fa4            exact attention with FlashAttention-4's CuTe kernels (flash-attn-4 package)
  fa4+compile    fa4 with torch.compile'd blocks
  cache          TeaCache over a --cache-steps schedule; also times a skipped step on its own
  vram-24gb      blocks streamed from pinned host memory, allocations capped at 24 GiB
  vram-12gb      the same at 12 GiB, CFG as two passes
  auto+compile   auto with torch.compile'd blocks (compile time reported separately)
  fp8            e4m3 block linears, per-tensor activation scales
  fp8+compile    fp8 with torch.compile'd blocks
Each mode also runs two UniPC steps of the real loop under torch.cuda.set_sync_debug_mode("error")
and records whether they ran without a host sync ("sync_free").
The fp8 modes run on a second model built after the bf16 ones (the conversion is in place).
A mode that cannot run here (no sageattention, an OOM under a cap) is reported with its error.
With random weights the cache plan skips nothing (the time projection moves ~100% per step);
the skipped-step time is what a trained model's skips cost.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dit_forward import CLIP_TOKENS, forward_flops, make_inputs, synchronize

from scail_blender.engine.testing import init_random_
from scail_blender.engine.models.clip import ClipConfig, ClipVision
from scail_blender.engine.models.dit import BlockResidual, DitConfig, ScailDiT
from scail_blender.engine.models.fp8 import convert_blocks_to_fp8
from scail_blender.engine.models.t5 import T5Config, T5Encoder
from scail_blender.engine.models.vae import VaeConfig, WanVAE
from scail_blender.engine.offload import BlockOffload
from scail_blender.engine.sampling import denoise, make_sampler
from scail_blender.engine.guidance import guided_forward
from scail_blender.engine.speed import Speed
from scail_blender.engine.step_cache import plan_steps

CFG = 5.0
GIB = 2**30
MODES: dict[str, Speed] = {
    "plain": Speed(attention="sdpa"),
    "auto": Speed(),
    "cfg-passes": Speed(cfg_batch=False),
    "sage": Speed(attention="sage"),
    "fa4": Speed(attention="fa4"),
    "fa4+compile": Speed(attention="fa4", compile=True),
    "cache": Speed(cache=0.1),
    "vram-24gb": Speed(vram="24gb"),
    "vram-12gb": Speed(vram="12gb", cfg_batch=False),
    "auto+compile": Speed(compile=True),
    "fp8": Speed(precision="fp8"),
    "fp8+compile": Speed(precision="fp8", compile=True),
}
VRAM_BUDGET_GIB = {"24gb": 24, "12gb": 12}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="14B", choices=["14B", "1.3B", "tiny"])
    parser.add_argument("--variant", default="scail", choices=["scail", "scail2"])
    parser.add_argument("--size", default="512x896", help="video HxW in pixels (multiples of 32)")
    parser.add_argument("--frames", type=int, default=81, help="video frames (4k+1)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"],
                        help="weights of the plain path (float32 only for CPU smoke runs)")
    parser.add_argument("--modes", default="all", help=f"comma list of {', '.join(MODES)} (default all)")
    parser.add_argument("--repeat", type=int, default=2, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (compiles, autotunes)")
    parser.add_argument("--cache-steps", type=int, default=10, help="schedule length of the cache mode")
    parser.add_argument("--no-encoders", action="store_true", help="skip the VAE, umT5 and CLIP timings")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def selected_modes(text: str) -> list[str]:
    names = list(MODES) if text == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown:
        raise SystemExit(f"unknown modes {', '.join(unknown)}; choose from {', '.join(MODES)}")
    return ["plain", *(n for n in MODES if n in names and n != "plain")]


def build_model(config: DitConfig, device: torch.device, dtype: torch.dtype) -> ScailDiT:
    with torch.device("meta"):
        model = ScailDiT(config).to(dtype)
    return init_random_(model.to_empty(device=device), seed=0).eval().requires_grad_(False)


def memory_reset(device: torch.device) -> None:
    """Free what the last mode left (GPU only: on the CPU a full gc pass costs more than it frees)."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None


def timed(fn, device: torch.device, warmup: int, repeat: int) -> tuple[list[float], float, torch.Tensor]:
    """(timed seconds, seconds of the first warm-up call, last output) of fn()."""
    first = 0.0
    for i in range(warmup):
        synchronize(device)
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        if i == 0:
            first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times, first, out


def configure(model: ScailDiT, speed: Speed, device: torch.device) -> BlockOffload | None:
    """Apply the run-time parts of a mode to a model of the right precision; returns the offload."""
    model.set_attention(speed.attention)
    if speed.compile:
        model.compile_blocks()
    if not speed.offloads:
        return None
    model.offload = BlockOffload(model.blocks, device)
    memory_reset(device)
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, VRAM_BUDGET_GIB[speed.vram] * GIB / total), device)
    return model.offload


def unconfigure(model: ScailDiT, offload: BlockOffload | None, device: torch.device) -> None:
    if offload is not None:
        if device.type == "cuda":
            torch.cuda.set_per_process_memory_fraction(1.0, device)
        offload.restore()
        model.offload = None


def run_mode(name: str, speed: Speed, model: ScailDiT, step_inputs: dict, args: argparse.Namespace,
             device: torch.device, flop_per_step: float) -> dict:
    """One mode's measurements (or its error); ``step_inputs`` are guided_forward's arguments."""
    offload = None
    try:
        memory_reset(device)
        offload = configure(model, speed, device)
        if speed.cache:
            return run_cache(speed, model, step_inputs, args, device)

        def step() -> torch.Tensor:
            return guided_forward(model, **step_inputs, cfg_batch=speed.cfg_batch)

        times, first, out = timed(step, device, args.warmup, args.repeat)
        seconds = statistics.mean(times)
        return {"seconds_per_step": seconds, "seconds_min": min(times), "first_call_seconds": first,
                "tflops_achieved": flop_per_step / seconds / 1e12, "peak_memory_gb": peak_gb(device),
                "sync_free": sync_free_loop(model, speed, step_inputs, device),
                "output": out, "speed": speed.describe()}
    except (RuntimeError, ValueError) as exc:  # a mode that cannot run here (OOM, no kernel) keeps the others
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        unconfigure(model, offload, device)


def sync_free_loop(model: ScailDiT, speed: Speed, step_inputs: dict, device: torch.device) -> bool | str | None:
    """Two UniPC steps of the real loop (denoise + guided_forward) with CUDA's sync check set to error.

    True when nothing in them waited for the GPU, else the error; None off CUDA (no such check).
    """
    if device.type != "cuda":
        return None
    x = step_inputs["x"]
    inputs = {k: v for k, v in step_inputs.items() if k not in ("x", "t")}

    def velocity(latent: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        x_in = torch.cat([latent, x[:, 16:]], dim=1)
        return guided_forward(model, x_in, timestep.float().reshape(1), **inputs, cfg_batch=speed.cfg_batch)

    sampler = make_sampler("unipc", 2, 3.0)
    sampler.timesteps = sampler.timesteps.to(device)  # what denoise does first, outside the check
    torch.cuda.set_sync_debug_mode("error")
    try:
        denoise(sampler, velocity, x[:, :16].float())
        return True
    except RuntimeError as exc:
        return f"{exc}"[:200]
    finally:
        torch.cuda.set_sync_debug_mode(0)


def run_cache(speed: Speed, model: ScailDiT, step_inputs: dict, args: argparse.Namespace,
              device: torch.device) -> dict:
    """A whole --cache-steps schedule with TeaCache, and the cost of one skipped step alone."""
    timesteps = make_sampler("unipc", args.cache_steps, 3.0).timesteps
    cache = plan_steps(model, timesteps, speed.cache)
    inputs = {k: v for k, v in step_inputs.items() if k != "t"}
    synchronize(device)
    start = time.perf_counter()
    for timestep in timesteps.to(device):
        guided_forward(model, t=timestep.float().reshape(1), **inputs, cache=cache)
    synchronize(device)
    seconds = (time.perf_counter() - start) / len(timesteps)
    # A skipped step: the stem and head run, the blocks' residual of the last step is added.
    residual = cache.residuals["cfg"]
    reuse = BlockResidual(reuse=True, value=residual.value)
    x, t = step_inputs["x"], step_inputs["t"]
    def grow(v):
        return v.expand(2, *v.shape[1:])
    times, _, _ = timed(lambda: model(grow(x), grow(t), step_inputs["context"][:2], grow(step_inputs["clip_fea"]),
                                      grow(step_inputs["ref"]), grow(step_inputs["pose"]), residual=reuse,
                                      **{k: grow(step_inputs[k]) for k in ("ref_mask", "pose_mask")
                                         if k in step_inputs}),
                        device, 1, args.repeat)
    return {"seconds_per_step": seconds, "steps": len(timesteps), "skipped_steps": cache.skipped,
            "seconds_skipped_step": statistics.mean(times), "peak_memory_gb": peak_gb(device),
            "speed": speed.describe(cache.skipped, len(timesteps))}


def step_arguments(config: DitConfig, args: argparse.Namespace, height: int, width: int,
                   device: torch.device, dtype: torch.dtype) -> dict:
    """guided_forward's inputs for one step: single-sample conditions, the two texts."""
    inputs = make_inputs(config, 1, args.frames, height, width, device, dtype)
    context = torch.cat([inputs["context"], torch.randn_like(inputs["context"])])
    step = {"x": inputs["x"], "t": inputs["t"], "context": context, "clip_fea": inputs["clip_fea"],
            "ref": inputs["ref"], "pose": inputs["pose"], "cfg": CFG}
    step.update({k: inputs[k] for k in ("ref_mask", "pose_mask") if k in inputs})
    return step


def time_vae(config: VaeConfig, frames: int, height: int, width: int, device: torch.device) -> dict:
    """One float32 VAE encode of the pose clip and one decode of its latent (whole, and in the
    spatial tiles of vram 12gb), as a window does."""
    vae = init_random_(WanVAE(config).to(device), seed=0).eval()
    video = torch.rand(1, 3, frames, height, width, device=device) * 2 - 1
    latent = torch.randn(1, 16, (frames - 1) // vae.temporal_stride + 1, height // 8, width // 8, device=device)
    results = {}
    for name, fn in (("vae_encode", lambda: vae.encode(video)), ("vae_decode", lambda: vae.decode(latent)),
                     ("vae_decode_tiled", lambda: vae.decode_tiled(latent))):
        memory_reset(device)
        times, _, _ = timed(fn, device, 0, 1)
        results[name] = {"seconds": times[0], "peak_memory_gb": peak_gb(device)}
    return results


def time_encoders(args: argparse.Namespace, height: int, width: int, device: torch.device) -> dict:
    """VAE encode (81 frames) and decode (21 latent frames), umT5 (2 x 512 tokens), CLIP (1 image)."""
    tiny = args.config == "tiny"
    on_gpu = device.type == "cuda"
    results = time_vae(VaeConfig(dim=8) if tiny else VaeConfig(), args.frames, height, width, device)
    t5_config = (T5Config(vocab_size=64, dim=64, dim_attn=64, dim_ffn=128, num_heads=2, num_layers=2) if tiny
                 else T5Config())
    clip_config = ClipConfig(image_size=28, patch_size=14, dim=64, num_layers=3, out_dim=32) if tiny else ClipConfig()
    memory_reset(device)
    with torch.device("meta"):
        t5 = T5Encoder(t5_config).to(torch.bfloat16 if on_gpu else torch.float32)
    t5 = init_random_(t5.to_empty(device=device), seed=0).eval()
    ids = torch.randint(3, t5_config.vocab_size, (2, 512), device=device)
    with torch.no_grad():
        times, _, _ = timed(lambda: t5(ids, torch.ones_like(ids)), device, 1, 1)
    results["umt5_two_prompts"] = {"seconds": times[0], "peak_memory_gb": peak_gb(device)}
    t5 = None  # free its 11 GB before CLIP
    memory_reset(device)
    clip = init_random_(ClipVision(clip_config).to(device, torch.float16 if on_gpu else torch.float32), seed=0).eval()
    image = torch.rand(1, 3, height, width, device=device) * 2 - 1
    times, _, _ = timed(lambda: clip.features(image), device, 1, 1)
    results["clip_reference"] = {"seconds": times[0], "peak_memory_gb": peak_gb(device)}
    return results


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if device.type == "cuda" and device.index is None:  # the memory cap of the vram modes needs an index
        device = torch.device("cuda", torch.cuda.current_device())
    height, width = (int(v) for v in args.size.lower().split("x"))
    config = DitConfig.preset(args.config, args.variant)
    names = selected_modes(args.modes)
    step_inputs = step_arguments(config, args, height, width, device, dtype)
    plain_model = build_model(config, device, dtype)
    layout = plain_model.check_inputs(step_inputs["x"], step_inputs["t"], step_inputs["context"][:1],
                                      step_inputs["clip_fea"], step_inputs["ref"], step_inputs["pose"],
                                      step_inputs.get("ref_mask"), step_inputs.get("pose_mask"), None, None)
    flop_per_step = 2 * forward_flops(config, layout.total, config.text_len + CLIP_TOKENS)

    results: dict[str, dict] = {}
    reference = None
    fp8_model = model = None
    for name in names:
        speed = MODES[name]
        if speed.precision == "fp8" and fp8_model is None:
            model = plain_model = None  # free the bf16 model before building the fp8 one
            memory_reset(device)
            fp8_model = build_model(config, device, dtype)
            convert_blocks_to_fp8(fp8_model.blocks)
        model = fp8_model if speed.precision == "fp8" else plain_model
        result = run_mode(name, speed, model, step_inputs, args, device, flop_per_step)
        out = result.pop("output", None)
        if out is not None:
            out = out.float().cpu()
            if name == "plain":
                reference = out
            if reference is not None:  # none when plain itself could not run
                result["relative_error"] = float((out - reference).norm() / reference.norm())
        results[name] = result
        print(format_row(name, result), flush=True)

    summary = {
        "config": args.config, "variant": args.variant, "size": [height, width], "frames": args.frames,
        "dtype": args.dtype, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "tokens": layout.total, "tflop_per_step": flop_per_step / 1e12,
        "cfg": CFG, "modes": results,
        "encoders": None if args.no_encoders else time_encoders(args, height, width, device),
    }
    print_summary(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


def format_row(name: str, r: dict) -> str:
    if "error" in r:
        return f"{name:<14} unavailable: {r['error']}"

    def num(key: str, fmt: str) -> str:
        return "-" if r.get(key) is None else format(r[key], fmt)

    extra = ""
    if "skipped_steps" in r:
        extra = (f"  {r['skipped_steps']}/{r['steps']} steps skipped; a skipped step "
                 f"{r['seconds_skipped_step']:.3f} s")
    elif r.get("first_call_seconds"):
        extra = f"  first call {r['first_call_seconds']:.1f} s"
    if r.get("sync_free") is not None:
        extra += "  no host sync" if r["sync_free"] is True else f"  HOST SYNC: {r['sync_free']}"
    return (f"{name:<14} {num('seconds_per_step', '8.3f')} s/step {num('tflops_achieved', '7.1f')} TFLOP/s "
            f"peak {num('peak_memory_gb', '6.1f')} GB  rel.err {num('relative_error', '.2e')}{extra}")


def print_summary(s: dict) -> None:
    print(f"SCAIL DiT {s['config']} ({s['variant']}) {s['size'][0]}x{s['size'][1]}x{s['frames']}, "
          f"{s['tokens']:,} tokens, CFG {s['cfg']:g} ({s['tflop_per_step']:.0f} TFLOP per step), "
          f"{s['dtype']} weights on {s['device_name']}, torch {s['torch']}")
    for name, enc in (s["encoders"] or {}).items():
        peak = "-" if enc["peak_memory_gb"] is None else f"{enc['peak_memory_gb']:.1f}"
        print(f"{name:<18} {enc['seconds']:8.3f} s  peak {peak} GB")


if __name__ == "__main__":
    main()
