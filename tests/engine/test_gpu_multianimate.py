"""MultiAnimate on a CUDA GPU: the tiny published layouts in the GPU's bf16 mixture, against the
float32 CPU video of the same seed, in every speed mode MultiAnimate takes.

Skipped without a GPU (CI has none); run on one with
``pytest -m gpu -s tests/engine/test_gpu_multianimate.py``. Noise is drawn on the CPU, so the two
videos differ by the GPU's bf16 arithmetic and kernels alone; the CPU tests bound the same
mixture's emulation (``test_bf16_mixture_runs``) and the exact modes against each other.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from scail_blender.engine.multianimate.pipeline import MultiAnimatePipeline
from scail_blender.engine.multianimate.tiny import write_tiny_multianimate, write_tiny_wan_i2v
from scail_blender.engine.speed import Speed

from tests.engine.test_multianimate_generate import SETTINGS, three_characters

pytestmark = pytest.mark.gpu

SPEEDS = {
    "bf16": Speed(),
    "sdpa": Speed(attention="sdpa"),
    "fp8": Speed(precision="fp8"),
    "vram-12gb": Speed(vram="12gb", cfg_batch=False),
    "compile": Speed(compile=True),
}


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MultiAnimatePipeline]:
    root = tmp_path_factory.mktemp("ma-gpu")
    base, checkpoint = write_tiny_wan_i2v(root / "base"), write_tiny_multianimate(root / "ma.ckpt")
    return {"cpu": MultiAnimatePipeline(base, checkpoint, "cpu"), "cuda": MultiAnimatePipeline(base, checkpoint, "cuda")}


@pytest.mark.parametrize("name", list(SPEEDS))
def test_a_cuda_multianimate_video_matches_the_cpu_one(name: str, pipelines: dict[str, MultiAnimatePipeline]) -> None:
    settings = replace(SETTINGS, speed=SPEEDS[name])
    cpu = pipelines["cpu"].generate(three_characters(), replace(SETTINGS))
    torch.cuda.reset_peak_memory_stats()
    cuda = pipelines["cuda"].generate(three_characters(), settings).cpu()
    difference = (cuda - cpu).abs().mean().item()
    print(f"{name}: mean |cuda - cpu| = {difference:.4f} (video in [-1, 1]), "
          f"peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    assert cuda.shape == cpu.shape and torch.isfinite(cuda).all()
    # bf16 activations over 2 steps of a tiny random net: 5% of the video's range on average.
    assert difference < 0.1
