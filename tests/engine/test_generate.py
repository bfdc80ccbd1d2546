"""`scail generate` end to end on tiny checkpoints, the pipeline's contracts, and its errors."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.engine.devices import Dtypes
from scail_blender.engine.pipeline import ScailPipeline
from scail_blender.engine.preprocess import auto_size, colour_mask_latent, plan_windows, resize_crop, usable_frames
from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
from scail_blender.errors import Cancelled, CheckpointError, InputError, OutOfMemory, VideoError
from scail_blender.media.video import probe_video, read_video, write_video

from tests.support import ROOT
from tests.support.media import write_job_media


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    files = write_job_media(folder, frames=7, ref_shape=(80, 60))
    files.update(write_job_media(folder, frames=3, suffix="_short"))
    write_video([np.zeros((64, 128, 3), np.uint8)] * 5, folder / "wide.mp4", 12)
    (folder / "not_an_image.png").write_text("hello")
    return {**files, "short": files["pose_short"], "wide": folder / "wide.mp4", "not_an_image": folder / "not_an_image.png"}


def job(media: dict[str, Path], out: Path, **settings) -> Job:
    base = dict(steps=3, width=64, height=64)
    base.update(settings)
    return Job(inputs=JobInputs(reference_image=str(media["ref"]), pose_video=str(media["pose"]), prompt="a person dances"),
               settings=JobSettings(**base), output=str(out))


def test_cli_generates_an_mp4_of_the_pose_length_and_rate(tiny: Path, media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "scail_blender.cli", "generate", "--checkpoint", str(tiny), "--ref", str(media["ref"]),
         "--pose", str(media["pose"]), "--prompt", "a person dances", "--out", str(out), "--steps", "4",
         "--size", "64x64"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    info = probe_video(out)
    assert (info.frames, info.fps, info.width, info.height) == (5, 12.0, 64, 64)  # 7 frames -> 1 + 4k = 5
    steps = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("denoise")]
    assert steps == ["0/4", "1/4", "2/4", "3/4", "4/4"]
    assert "wrote" in proc.stdout


def test_progress_is_monotonic_and_same_seed_gives_same_video(tiny: Path, media: dict[str, Path],
                                                              tmp_path: Path) -> None:
    pipeline = ScailPipeline(tiny, "cpu")
    events = []
    first = pipeline.generate(job(media, tmp_path / "a.mp4", seed=7), events.append)
    pipeline.generate(job(media, tmp_path / "b.mp4", seed=7))
    pipeline.generate(job(media, tmp_path / "c.mp4", seed=8))
    order = ["load", "encode", "denoise", "decode", "write", "done"]
    keys = [(order.index(e.phase), e.step / max(e.total, 1)) for e in events]
    assert keys == sorted(keys) and events[-1].phase == "done"
    messages = [e.message for e in events]
    # the long phases report their own steps: tensors read, and VAE chunks (5 frames: 2 latent frames)
    assert any("tensors" in m for m in messages)
    assert {"window 1: VAE encode 2/2", "window 1: VAE decode 1/2", "window 1: VAE decode 2/2"} <= set(messages)
    assert first.frames == 5 and first.seed == 7
    a, b, c = (np.stack(list(read_video(tmp_path / n))) for n in ("a.mp4", "b.mp4", "c.mp4"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_cancel_mid_run_writes_nothing(tiny: Path, media: dict[str, Path], tmp_path: Path) -> None:
    cancel = threading.Event()
    seen = []

    def on_progress(event) -> None:
        seen.append(event)
        if event.phase == "denoise" and event.step == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        ScailPipeline(tiny, "cpu").generate(job(media, tmp_path / "x.mp4", steps=6), on_progress, cancel)
    assert max(e.step for e in seen if e.phase == "denoise") == 2
    assert list(tmp_path.iterdir()) == []


def test_out_of_memory_names_the_phase_and_writes_nothing(tiny: Path, media: dict[str, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = ScailPipeline(tiny, "cpu")
    dit, _ = pipeline._models()

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(dit, "forward", exhausted)
    with pytest.raises(OutOfMemory, match="phase 'denoise'.*--max-frames"):
        pipeline.generate(job(media, tmp_path / "x.mp4"))
    assert list(tmp_path.iterdir()) == []
    assert pipeline._dit is None, "the model is released after running out of memory"


def long_clip(folder: Path, frames: int = 91) -> dict[str, str]:
    """A pose video and the SCAIL-2 colour masks that go with it: a red figure on black."""
    rng = np.random.default_rng(1)
    write_video([(rng.random((64, 64, 3)) * 255).astype(np.uint8) for _ in range(frames)], folder / "long.mp4", 16)
    mask = np.zeros((64, 64, 3), np.uint8)
    mask[16:48, 24:40, 0] = 255
    write_video([mask] * frames, folder / "mask.mp4", 16)
    Image.fromarray(mask).save(folder / "ref_mask.png")
    return {"pose_video": str(folder / "long.mp4"), "pose_mask": str(folder / "mask.mp4"),
            "reference_mask": str(folder / "ref_mask.png")}


def test_long_clips_are_windowed_and_joined_to_the_exact_length(tmp_path: Path, media: dict[str, Path]) -> None:
    clip = long_clip(tmp_path)
    for variant in ("scail", "scail2"):
        root = write_tiny_checkpoint(tmp_path / variant, variant)
        j = job(media, tmp_path / f"{variant}.mp4", steps=1)
        for key, value in clip.items():
            setattr(j.inputs, key, value)
        result = ScailPipeline(root, "cpu").generate(j)
        assert result.frames == 89 and probe_video(result.output).frames == 89


def test_scail2_history_stays_clean_and_cfg_changes_only_the_text(tmp_path: Path, media: dict[str, Path],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The second window's first 2 latent frames are the clean history at every step, flagged by
    ones in the 4 mask channels; the CFG pair shares everything but the text (SCAIL-2 training and
    the official scripts)."""
    pipeline = ScailPipeline(write_tiny_checkpoint(tmp_path / "s2", "scail2"), "cpu")
    dit, _ = pipeline._models()
    calls = []
    forward = dit.forward

    def spy(x, t, context, clip_fea, ref, pose, **extra):
        calls.append(dict(x=x.clone(), t=t.clone(), context=context, clip_fea=clip_fea, ref=ref, pose=pose, **extra))
        return forward(x, t, context, clip_fea, ref, pose, **extra)

    monkeypatch.setattr(dit, "forward", spy)
    j = job(media, tmp_path / "out.mp4", steps=3)
    for key, value in long_clip(tmp_path).items():
        setattr(j.inputs, key, value)
    pipeline.generate(j)
    first, second = calls[:3], calls[3:]
    assert len(second) == 3 and second[0]["x"].shape[2] == 4  # frames 76..88: 13 frames, 4 latent frames
    assert all(c["x"][:, 16:].eq(0).all() for c in first)
    for c in second:
        assert c["x"][:, 16:, :2].eq(1).all() and c["x"][:, 16:, 2:].eq(0).all()
        assert torch.equal(c["x"][:, :16, :2], second[0]["x"][:, :16, :2])
    assert not torch.equal(second[0]["x"][:, :16, 2:], second[1]["x"][:, :16, 2:])
    for c in calls:
        assert c["t"][0] == c["t"][1] and not torch.equal(c["context"][0], c["context"][1])
        for name in ("x", "clip_fea", "ref", "pose", "ref_mask", "pose_mask"):
            assert torch.equal(c[name][0], c[name][1]), name
        assert c["pose_mask"].sum() > 0 and c["ref_mask"][:, :, :1].sum() > 0


@pytest.mark.parametrize("variant,precision", [("scail", "bf16"), ("scail2", "bf16"), ("scail", "fp8")])
def test_the_gpu_dtypes_run_a_whole_job(variant: str, precision: str, tmp_path: Path, media: dict[str, Path]) -> None:
    """The DiT and umT5 in bf16 and CLIP in fp16, as on a GPU, run here on the CPU. A module that
    mixes its weights' dtype with float32 inputs failed every CUDA job once (CLIP's LayerNorm)
    while every float32 CPU test passed."""
    root = write_tiny_checkpoint(tmp_path / variant, variant)
    j = job(media, tmp_path / "gpu.mp4", precision=precision)
    for key, value in long_clip(tmp_path, frames=7).items():
        if variant == "scail2" or key == "pose_video":
            setattr(j.inputs, key, value)
    pipeline = ScailPipeline(root, "cpu", dtypes=Dtypes.gpu())
    result = pipeline.generate(j)
    assert pipeline._dit.blocks[0].ffn[0].weight.dtype == (torch.bfloat16 if precision == "bf16" else torch.float8_e4m3fn)
    j.output = str(tmp_path / "cpu.mp4")
    ScailPipeline(root, "cpu").generate(j)
    gpu, cpu = (np.stack(list(read_video(path))).astype(float) for path in (result.output, j.output))
    assert gpu.shape == cpu.shape == (5, 64, 64, 3) and gpu.std() > 10
    print(f"{variant} {precision}: mean |gpu dtypes - float32| = {np.abs(gpu - cpu).mean():.2f} levels")
    assert np.abs(gpu - cpu).mean() < 20


def test_scail2_needs_both_colour_masks(tmp_path: Path, media: dict[str, Path]) -> None:
    pipeline = ScailPipeline(write_tiny_checkpoint(tmp_path / "s2", "scail2"), "cpu")
    clip = long_clip(tmp_path, frames=7)
    for missing in ("reference_mask", "pose_mask"):
        j = job(media, tmp_path / "out.mp4")
        for key, value in clip.items():
            setattr(j.inputs, key, None if key == missing else value)
        with pytest.raises(InputError, match="SCAIL-2 needs a reference mask and a pose mask"):
            pipeline.generate(j)
    j = job(media, tmp_path / "out.mp4")
    j.inputs.reference_mask, j.inputs.pose_mask = clip["reference_mask"], str(media["short"])
    with pytest.raises(InputError, match="pose mask has 3 frames but 5"):
        pipeline.generate(j)
    assert not (tmp_path / "out.mp4").exists()


def test_the_default_size_follows_the_reference_orientation() -> None:
    assert auto_size(np.zeros((600, 800, 3))) == (512, 896)
    assert auto_size(np.zeros((800, 600, 3))) == (896, 512)
    assert auto_size(np.zeros((700, 700, 3))) == (512, 896)  # wan-branch rule: a square stays landscape


def test_windows_cover_the_clip_with_model_lengths() -> None:
    assert [(w.start, w.stop) for w in plan_windows(81)] == [(0, 81)]
    windows = plan_windows(241)
    assert [(w.start, w.stop, w.history) for w in windows] == [(0, 81, 0), (76, 157, 5), (152, 233, 5), (228, 241, 5)]
    assert all((w.frames - 1) % 4 == 0 for w in windows)
    assert usable_frames(100, None) == 97 and usable_frames(100, 30) == 29


def test_resize_crop_covers_then_centres() -> None:
    frames = np.zeros((1, 3, 100, 300), np.uint8)
    frames[..., 100:200] = 255  # a white middle third
    out = resize_crop(__import__("torch").from_numpy(frames), (64, 64))
    assert out.shape == (1, 3, 64, 64) and out.dtype.is_floating_point is False
    assert out[0, 0, 32, 32] == 255 and out.float().mean() > 200


def test_colour_masks_pack_four_frames_of_seven_colours() -> None:
    import torch

    frames = -torch.ones(5, 3, 16, 16)
    frames[0] = 1  # white
    frames[1:, 0] = 1  # red
    mask = colour_mask_latent(frames, (2, 2))
    assert mask.shape == (28, 2, 2, 2)
    assert mask[[0, 7, 14, 21], 0].eq(1).all()  # frame 0 repeated 4 times: white
    assert mask[[1, 8, 15, 22], 1].eq(1).all() and mask.sum() == 8 * 4


def test_bad_inputs_say_what_is_wrong(tiny: Path, media: dict[str, Path], tmp_path: Path) -> None:
    pipeline = ScailPipeline(tiny, "cpu")
    cases = [
        (dict(reference_image=str(tmp_path / "missing.png")), InputError, "does not exist"),
        (dict(reference_image=str(media["not_an_image"])), InputError, "not a readable image"),
        (dict(pose_video=str(tmp_path / "missing.mp4")), VideoError, "does not exist"),
        (dict(pose_video=str(media["short"])), InputError, "at least 5"),
        (dict(pose_video=str(media["wide"])), InputError, "render the pose video at the output size"),
    ]
    for inputs, error, message in cases:
        j = job(media, tmp_path / "bad.mp4")
        for key, value in inputs.items():
            setattr(j.inputs, key, value)
        with pytest.raises(error, match=message):
            pipeline.generate(j)
    with pytest.raises(InputError, match="scail2 .* scail checkpoint"):
        pipeline.generate(job(media, tmp_path / "bad.mp4", variant="scail2"))
    assert not (tmp_path / "bad.mp4").exists()


def test_wrong_folders_and_models_are_refused(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="lacks"):
        ScailPipeline(tmp_path, "cpu")
    other = write_tiny_checkpoint(tmp_path / "other")
    (other / "Wan2.1_VAE.pth").write_bytes((other / "umt5-xxl" / "models_t5_umt5-xxl-enc-bf16.pth").read_bytes())
    with pytest.raises(CheckpointError, match="not the Wan2.1 VAE"):
        ScailPipeline(other, "cpu")._models()


def test_make_test_checkpoint_refuses_a_full_folder(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "make-test-checkpoint", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr
