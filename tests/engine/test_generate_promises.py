"""What `generate` and `make-test-checkpoint` promise: a converted .safetensors is a checkpoint,
the smoke-test settings are printed (and shown in the README), ignored masks are a warning."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scail_blender.engine.checkpoints.convert import convert
from scail_blender.engine.checkpoints.formats import find_checkpoint_file
from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.engine.pipeline import ScailPipeline
from scail_blender.cli import main
from scail_blender.commands.make_test_checkpoint import SMOKE_SETTINGS
from scail_blender.errors import CheckpointError, InputError
from scail_blender.media.video import VideoWriter, probe_video

from tests.support import ROOT
from tests.support.media import write_job_media


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_job_media(tmp_path_factory.mktemp("media"))


def test_a_converted_safetensors_is_a_checkpoint(tiny: Path, media: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    # Converted elsewhere: the release folder it came from is recorded in the file.
    dit = tmp_path / "scail-preview.safetensors"
    assert main(["convert", str(tiny), str(dit), "--dtype", "float32"]) == 0
    out = tmp_path / "out.mp4"
    assert main(["generate", "--checkpoint", str(dit), "--ref", str(media["ref"]), "--pose", str(media["pose"]),
                 "--out", str(out), "--size", "64x64", "--steps", "2"]) == 0
    assert probe_video(out).frames == 5 and "wrote" in capsys.readouterr().out
    assert ScailPipeline(dit, "cpu").files.vae.parent == tiny

    # The folder it came from is gone: --components names it; without, the error says so.
    moved = tmp_path / "elsewhere"
    shutil.copytree(tiny, moved)
    lonely = tmp_path / "lonely" / "dit.safetensors"
    lonely.parent.mkdir()
    convert(moved, lonely)
    shutil.rmtree(moved)
    with pytest.raises(CheckpointError, match="--components DIR"):
        ScailPipeline(lonely, "cpu")
    assert ScailPipeline(lonely, "cpu", components=tiny).files.clip.parent == tiny

    # Placed in a release folder: found there, by file or by folder (once model/1 is gone).
    release = tmp_path / "release"
    shutil.copytree(tiny, release, ignore=shutil.ignore_patterns("model"))
    shutil.move(lonely, release / "dit.safetensors")
    assert find_checkpoint_file(release) == release / "dit.safetensors"
    pipeline = ScailPipeline(release, "cpu")
    assert pipeline.files.vae.parent == release and pipeline._models()[0].config.variant == "scail"


def test_make_test_checkpoint_prints_the_smoke_settings_the_readme_shows(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    assert main(["make-test-checkpoint", str(tmp_path / "tiny")]) == 0
    out = capsys.readouterr().out
    assert f"scail generate --checkpoint {tmp_path / 'tiny'} " in out and SMOKE_SETTINGS in out
    assert SMOKE_SETTINGS in (ROOT / "README.md").read_text()


def test_masks_given_to_scail_preview_are_a_warning(tiny: Path, media: dict[str, Path], tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    # One blue character in both masks, so they pass the people check that runs before loading.
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[16:48, 16:48] = (0, 0, 255)
    Image.fromarray(blue).save(tmp_path / "ref_mask.png")
    with VideoWriter(tmp_path / "pose_mask.mp4", 12, (64, 64), lossless=True) as writer:
        for _ in range(probe_video(media["pose"]).frames):
            writer.write(blue)
    job = Job(inputs=JobInputs(reference_image=str(media["ref"]), pose_video=str(media["pose"]),
                               reference_mask=str(tmp_path / "ref_mask.png"), pose_mask=str(tmp_path / "pose_mask.mp4")),
              # variant scail2 makes the job stop right after the DiT has loaded and the warning is out
              settings=JobSettings(steps=1, height=64, width=64, variant="scail2"), output=str(tmp_path / "x.mp4"))
    with caplog.at_level(logging.WARNING, logger="scail_blender"), pytest.raises(InputError, match="scail2"):
        ScailPipeline(tiny, "cpu").generate(job)
    assert any("SCAIL-Preview takes no masks" in r.getMessage() for r in caplog.records)
