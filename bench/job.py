"""Whole generation jobs at real sizes, every phase timed, from a full-size random release folder.

Writes (once, under --root) a release folder with the real sizes: the 14B DiT as one converted
bf16 safetensors file (what ``scail convert`` makes), the Wan VAE, umT5-XXL with a small
tokenizer and CLIP ViT-H, all random (the weights are made on the GPU, so writing them costs the
disk's time, not the CPU's). It then runs the pipeline on a reference image and an 81-frame pose
clip through the same ``generate`` call the runner makes, --jobs times in one process (the second
job shows a server's steady state: model loaded, blocks compiled), and prints each phase: load
(text encoder, image encoder, DiT), VAE encode, every sampling step, VAE decode and the mp4 write.
Steps are reduced to fit a device call (--steps); the warm per-step time and the total
extrapolated to --full-steps steps are printed on their own lines.

    python bench/job.py --json job.json                       # 2 steps, twice, 512x896x81
    python bench/job.py --settings '{"precision": "fp8"}'     # any JobSettings field
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scail_blender.engine.checkpoints.convert import write_safetensors  # noqa: E402
from scail_blender.engine.components import CLIP_FILES, T5_DIR, T5_FILE, VAE_FILE  # noqa: E402
from scail_blender.engine.models.clip import ClipConfig, ClipVision  # noqa: E402
from scail_blender.engine.models.dit import DitConfig, ScailDiT  # noqa: E402
from scail_blender.engine.models.t5 import T5Config, T5Encoder  # noqa: E402
from scail_blender.engine.models.vae import VaeConfig, WanVAE  # noqa: E402
from scail_blender.engine.pipeline import ScailPipeline  # noqa: E402
from scail_blender.engine.testing import init_random_  # noqa: E402
from scail_blender.engine.tiny_checkpoint import tiny_tokenizer, write_tiny_checkpoint  # noqa: E402
from scail_blender.jobs.contract import Job, JobInputs, JobSettings  # noqa: E402
from scail_blender.media.png import write_png  # noqa: E402
from scail_blender.media.video import write_video  # noqa: E402

DIT_FILE = "scail-14b-bf16.safetensors"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("/tmp/scail-bench"))
    parser.add_argument("--config", default="14B", choices=["14B", "1.3B", "tiny"])
    parser.add_argument("--variant", default="scail", choices=["scail", "scail2"])
    parser.add_argument("--size", default="512x896", help="HxW")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--steps", type=int, default=2, help="sampling steps run per job")
    parser.add_argument("--full-steps", type=int, default=40, help="steps of the real job, for the extrapolation")
    parser.add_argument("--jobs", type=int, default=2, help="jobs run one after another in this process")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--settings", default="{}", help="JSON of JobSettings fields, e.g. '{\"precision\": \"fp8\"}'")
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def random_state(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """A seeded random state dict of ``module``'s shapes, made on ``device`` and handed back on the CPU."""
    module = init_random_(module.to(dtype).to_empty(device=device), seed=0)
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def write_release(root: Path, config: DitConfig, device: torch.device) -> Path:
    """The release folder at real sizes (skipped when a previous run finished it); the tiny config
    gets the tiny release's components, for smoke runs on a CPU."""
    done, dit_file = root / "complete", root / DIT_FILE
    if done.exists():
        return dit_file
    root.mkdir(parents=True, exist_ok=True)
    with torch.device("meta"):
        dit = ScailDiT(config)
    state = dict(init_random_(dit.to(torch.bfloat16).to_empty(device=device), seed=0).state_dict())
    write_safetensors(dit_file, {k: tuple(v.shape) for k, v in state.items()}, lambda k: state[k].cpu(),
                      torch.bfloat16, config, components=root)
    state.clear()
    del dit
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if config.dim == DitConfig.preset("tiny", config.variant).dim:
        write_tiny_checkpoint(root, config.variant)
    else:
        write_components(root, device)
    done.write_text("ok\n")
    return dit_file


def write_components(root: Path, device: torch.device) -> None:
    """Wan VAE (fp32), umT5-XXL (bf16, with a small word-level tokenizer) and CLIP ViT-H (fp16)."""
    for build, path, dtype in ((lambda: WanVAE(VaeConfig()), root / VAE_FILE, torch.float32),
                               (lambda: T5Encoder(T5Config()), root / T5_DIR / T5_FILE, torch.bfloat16),
                               (lambda: ClipVision(ClipConfig()), root / CLIP_FILES[0], torch.float16)):
        with torch.device("meta"):
            module = build()
        state = random_state(module, device, dtype)
        if path.name == CLIP_FILES[0]:
            state = {f"visual.{k}": v for k, v in state.items()} | {"log_scale": torch.tensor(4.6052)}
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        del module, state
    tiny_tokenizer().save(str(root / T5_DIR / "tokenizer.json"))


def write_media(root: Path, height: int, width: int, frames: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    ref, pose = root / "ref.png", root / f"pose_{height}x{width}x{frames}.mp4"
    write_png(ref, (rng.random((height, width, 3)) * 255).astype(np.uint8))
    if not pose.exists():
        write_video([(rng.random((height, width, 3)) * 255).astype(np.uint8) for _ in range(frames)], pose, 16)
    return ref, pose


class Timeline:
    """Seconds spent in each phase of a job, from the pipeline's progress events."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: list[tuple[float, str]] = []

    def __call__(self, event) -> None:
        label = event.phase if event.phase != "load" else f"load: {event.message.split(':')[0]}"
        if label == "load: ready":
            label = "inputs: pose read, ref VAE"
        if event.phase == "denoise":
            label = f"step {event.step}" if event.step else "denoise start"
        if not self.marks or self.marks[-1][1] != label:
            self.marks.append((time.perf_counter(), label))
            print(f"  [{self.marks[-1][0] - self.start:7.1f} s] {label}", flush=True)


def merge_steps(marks: list[tuple[float, str]], end: float) -> list[tuple[str, float]]:
    """Phase durations, where "step N" is the time from the mark of step N-1 (or denoise start) to step N."""
    out: list[tuple[str, float]] = []
    for i, (t, label) in enumerate(marks):
        if label.startswith("step "):
            out.append((label, t - marks[i - 1][0]))
            continue
        t_next = marks[i + 1][0] if i + 1 < len(marks) else end
        if i + 1 < len(marks) and marks[i + 1][1].startswith("step "):
            continue  # denoise start: its time is the first step's
        out.append((label, t_next - t))
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = torch.device(args.device)
    height, width = (int(v) for v in args.size.lower().split("x"))
    config = DitConfig.preset(args.config, args.variant)
    t0 = time.perf_counter()
    print(f"writing the release folder under {args.root} (once)", flush=True)
    dit_file = write_release(args.root, config, device)
    written = time.perf_counter() - t0
    ref, pose = write_media(args.root, height, width, args.frames)
    settings = JobSettings(steps=args.steps, height=height, width=width, **json.loads(args.settings))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"release folder {args.root} ({written:.0f} s to write); {args.config} {args.variant} "
          f"{height}x{width}x{args.frames}, {args.steps} steps, on {name}, torch {torch.__version__}")
    pipeline = ScailPipeline(dit_file, args.device)
    report: dict = {"gpu": name, "torch": torch.__version__, "size": [height, width], "frames": args.frames,
                    "settings": asdict(settings), "write_release_seconds": written, "jobs": []}
    for n in range(args.jobs):
        timeline = Timeline()
        job = Job(inputs=JobInputs(reference_image=str(ref), pose_video=str(pose), prompt="a person dances"),
                  settings=settings, output=str(args.root / f"out{n}.mp4"))
        start = time.perf_counter()
        result = pipeline.generate(job, timeline)
        wall = time.perf_counter() - start
        phases = merge_steps(timeline.marks, time.perf_counter())
        steps = [s for label, s in phases if label.startswith("step ")]
        warm_step = min(steps) if steps else 0.0
        extrapolated = wall - sum(steps) + (steps[0] if steps else 0.0) + warm_step * (args.full_steps - 1)
        report["jobs"].append({"wall_seconds": wall, "phases": phases, "warm_step_seconds": warm_step,
                               "extrapolated_seconds": extrapolated, "speed": result.speed})
        print(f"\njob {n + 1}: {wall:.1f} s wall ({result.speed})")
        for label, seconds in phases:
            print(f"  {label:<28} {seconds:8.2f} s")
        print(f"  warm step {warm_step:.2f} s; {args.full_steps}-step job extrapolated: {extrapolated:.0f} s "
              f"({extrapolated / 60:.1f} min)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
