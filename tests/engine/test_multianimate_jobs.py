"""MultiAnimate through the one job contract: ``scail generate`` on a tiny MultiAnimate folder, the
runner's choice of pipeline from the checkpoint, and the model's checks before anything loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scail_blender.engine import load_pipeline
from scail_blender.engine.multianimate.jobs import MultiAnimateJobPipeline, find_wan_base
from scail_blender.engine.multianimate.tiny import write_tiny_multianimate
from scail_blender.errors import CheckpointError, InputError
from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.media.video import VideoWriter, probe_video, write_video

from tests.support import ROOT

FRAMES, H, W, FPS = 7, 64, 128, 12


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``scail make-test-checkpoint --variant multianimate``: the checkpoint folder, its base beside it."""
    root = tmp_path_factory.mktemp("ma") / "tiny"
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "make-test-checkpoint", str(root), "--variant",
                           "multianimate"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"--checkpoint {root / 'MultiAnimate'} " in proc.stdout
    return root / "MultiAnimate"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Three characters: a coloured bar each on one skeleton canvas, one lossless mask video each."""
    folder = tmp_path_factory.mktemp("ma-media")
    poses = np.zeros((FRAMES, H, W, 3), np.uint8)
    masks = np.zeros((3, FRAMES, H, W, 3), np.uint8)
    for person in range(3):
        for f in range(FRAMES):
            x = 12 + 40 * person + f
            poses[f, 10:54, x:x + 4] = (255, 85 * person, 0)
            masks[person, f, 6:58, x - 8:x + 12] = 255
    write_video(list(poses), folder / "pose.mp4", FPS)
    files = {"pose": str(folder / "pose.mp4")}
    for person in range(3):
        path = folder / f"mask_{person}.mp4"
        with VideoWriter(path, FPS, (H, W), lossless=True) as writer:
            for frame in masks[person]:
                writer.write(frame)
        files[f"mask_{person}"] = str(path)
    write_video([np.full((32, 64, 3), 255, np.uint8)] * FRAMES, folder / "small_mask.mp4", FPS)
    files["small_mask"] = str(folder / "small_mask.mp4")
    Image.fromarray(poses[0]).save(folder / "ref_pose.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)).save(folder / "ref.png")
    return {**files, "ref_pose": str(folder / "ref_pose.png"), "ref": str(folder / "ref.png")}


def test_scail_generate_runs_a_multianimate_folder_with_its_own_defaults(tiny: Path, media: dict[str, str],
                                                                         tmp_path: Path) -> None:
    """No --steps/--cfg/--shift/--sampler: MultiAnimate's official 50 Euler steps run (SCAIL's are 40)."""
    out = tmp_path / "multi.mp4"
    masks = [arg for k in range(3) for arg in ("--character-mask", media[f"mask_{k}"])]
    proc = subprocess.run(
        [sys.executable, "-m", "scail_blender.cli", "generate", "--checkpoint", str(tiny), "--ref", media["ref"],
         "--pose", media["pose"], *masks, "--reference-pose", media["ref_pose"], "--prompt", "three person are dancing",
         "--out", str(out), "--size", "32x64", "--max-frames", "5"], cwd=ROOT, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = probe_video(out)
    assert (info.frames, info.fps, info.height, info.width) == (5, FPS, 32, 64)
    steps = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("denoise")]
    assert steps[-1] == "50/50" and "0/40" not in steps


def job(media: dict[str, str], out: Path, masks: int = 3, **settings) -> Job:
    return Job(inputs=JobInputs(reference_image=media["ref"], pose_video=media["pose"],
                                character_masks=[media[f"mask_{k}"] for k in range(masks)] or None,
                                reference_pose=media["ref_pose"]),
               settings=JobSettings(height=32, width=64, max_frames=5, steps=1, **settings), output=str(out))


def test_the_runner_factory_picks_the_pipeline_and_checks_the_job_before_loading(tiny: Path, media: dict[str, str],
                                                                                 tmp_path: Path) -> None:
    pipeline = load_pipeline(tiny, "cpu")
    assert isinstance(pipeline, MultiAnimateJobPipeline)
    for bad, match in ((job(media, tmp_path / "a.mp4", masks=0), "character_masks"),
                       (job(media, tmp_path / "b.mp4", sampler="unipc"), "flow-match Euler"),
                       (job(media, tmp_path / "c.mp4", variant="scail2"), "checkpoint is MultiAnimate"),
                       (job(media, tmp_path / "d.mp4", mode="replacement"), "not available with MultiAnimate")):
        with pytest.raises(InputError, match=match):
            pipeline.generate(bad)
        assert not pipeline.loaded and not Path(bad.output).exists()
    small = job(media, tmp_path / "e.mp4")
    small.inputs.character_masks[1] = media["small_mask"]
    with pytest.raises(InputError, match="character mask 2 .* needs at least 5 frames of 64x128"):
        pipeline.generate(small)
    assert not pipeline.loaded


def test_the_base_is_the_one_wan_folder_beside_the_checkpoint(tiny: Path, tmp_path: Path) -> None:
    assert find_wan_base(tiny) == tiny.parent / "Wan2.1-I2V-14B-720P"
    alone = write_tiny_multianimate(tmp_path / "alone" / "MultiAnimate")
    with pytest.raises(CheckpointError, match="--components"):
        load_pipeline(alone, "cpu")
    assert isinstance(load_pipeline(alone, "cpu", tiny.parent / "Wan2.1-I2V-14B-720P"), MultiAnimateJobPipeline)
