"""Whole jobs on a CUDA GPU in every speed setting, against the float32 CPU job of the same seed.

Skipped without a GPU (CI has none); run on one with ``pytest -m gpu -s tests``. The CPU tests
run the GPU's dtype mixture too (``Dtypes.gpu()``), but the pinned attention kernels, ``_scaled_mm``
fp8, side-stream offload and CUDA's own rounding only run here. Noise is drawn on the CPU, so the
two videos differ by the GPU's bf16/fp16 arithmetic alone: the CPU emulation of that mixture
measured 3.7 levels mean absolute difference on this job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.engine.models.attention import has_sageattention
from scail_blender.engine.pipeline import ScailPipeline
from scail_blender.errors import InputError
from scail_blender.media.video import read_video

from tests.support.media import write_job_media

pytestmark = pytest.mark.gpu

SETTINGS = {
    "bf16": {},
    "sdpa": {"attention": "sdpa"},
    "fp8": {"precision": "fp8"},
    "cache": {"cache": 0.05},
    "vram-24gb": {"vram": "24gb"},
    "vram-12gb": {"vram": "12gb"},
    "cfg-off": {"cfg": 1.0},
}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_job_media(tmp_path_factory.mktemp("media"), frames=17, size=(128, 224), ref_shape=(128, 224))


@pytest.fixture(scope="module")
def pipelines(tiny_checkpoint: Path) -> dict[str, ScailPipeline]:
    return {"cpu": ScailPipeline(tiny_checkpoint, "cpu"), "cuda": ScailPipeline(tiny_checkpoint, "cuda")}


def run(pipeline: ScailPipeline, media: dict[str, Path], out: Path, **settings) -> np.ndarray:
    job = Job(inputs=JobInputs(reference_image=str(media["ref"]), pose_video=str(media["pose"]), prompt="a dancer"),
              settings=JobSettings(**{"steps": 4, "height": 128, "width": 224, "seed": 3, **settings}), output=str(out))
    pipeline.generate(job)
    return np.stack(list(read_video(out))).astype(np.float64)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_a_cuda_job_matches_the_cpu_job_of_its_seed(name: str, pipelines: dict[str, ScailPipeline],
                                                    media: dict[str, Path], tmp_path: Path) -> None:
    settings = SETTINGS[name]
    cpu = run(pipelines["cpu"], media, tmp_path / "cpu.mp4", **settings)
    cuda = run(pipelines["cuda"], media, tmp_path / "cuda.mp4", **settings)
    difference = np.abs(cuda - cpu).mean()
    print(f"{name}: mean |cuda - cpu| = {difference:.2f} levels, peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    assert cuda.shape == cpu.shape == (17, 128, 224, 3) and cuda.std() > 10
    assert difference < 12


def test_sage_attention_without_its_package_is_refused_before_loading(pipelines: dict[str, ScailPipeline],
                                                                     media: dict[str, Path], tmp_path: Path) -> None:
    if has_sageattention():
        cuda = run(pipelines["cuda"], media, tmp_path / "sage.mp4", attention="sage")
        assert cuda.std() > 10
        return
    pipelines["cuda"].release()
    with pytest.raises(InputError, match="pip install sageattention"):
        run(pipelines["cuda"], media, tmp_path / "sage.mp4", attention="sage")
    assert not pipelines["cuda"].loaded
