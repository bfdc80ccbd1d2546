"""SCAIL-2 extra reference views through the one job contract, and the reference/driving people check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scail_blender.engine.pipeline import ScailPipeline
from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
from scail_blender.errors import InputError, OverLimit
from scail_blender.jobs.contract import MAX_EXTRA_REFERENCES, Job, JobInputs, JobSettings
from scail_blender.jobs.references import extra_reference_files, extra_references_from_files
from scail_blender.media.video import probe_video

from tests.support import ROOT
from tests.support.media import write_scail2_media


@pytest.fixture(scope="module")
def scail2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("s2") / "SCAIL-2", "scail2")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_scail2_media(tmp_path_factory.mktemp("clip"))


def scail2_job(clip: dict[str, str], out: Path, **inputs) -> Job:
    base = dict(reference_image=clip["ref"], pose_video=clip["pose"], prompt="two people dance",
                reference_mask=clip["ref_mask"], pose_mask=clip["mask"])
    base.update(inputs)
    return Job(inputs=JobInputs(**base), settings=JobSettings(steps=2, width=64, height=64), output=str(out))


def test_extra_views_reach_the_model_with_their_own_masks(scail2: Path, clip: dict[str, str], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = ScailPipeline(scail2, "cpu")
    dit, _ = pipeline._models()
    seen = []
    forward = dit.forward

    def spy(x, t, context, clip_fea, ref, pose, **extra):
        seen.append(extra)
        return forward(x, t, context, clip_fea, ref, pose, **extra)

    monkeypatch.setattr(dit, "forward", spy)
    job = scail2_job(clip, tmp_path / "out.mp4", extra_references=[clip["side"], clip["back"]],
                     extra_reference_masks=[clip["side_mask"], clip["back_mask"]])
    result = pipeline.generate(job)
    assert probe_video(result.output).frames == 5
    refs, masks = seen[0]["extra_refs"], seen[0]["extra_ref_masks"]
    assert refs.shape == (2, 20, 2, 8, 8) and masks.shape == (2, 28, 2, 8, 8)
    assert refs[:, 16:].eq(1).all(), "extra references are conditions: their mask channels are ones"
    # Channel 3 is blue, 1 red (preprocess.MASK_COLOURS); the side view has red on the left, the back blue.
    side, back = masks[0, :, 0], masks[0, :, 1]
    assert side[1, :, 0:3].sum() > 0 and side[3, :, 0:3].sum() == 0
    assert back[3, :, 0:3].sum() > 0 and back[1, :, 0:3].sum() == 0
    assert not torch.equal(refs[0, :16, 0], refs[0, :16, 1])


def test_a_people_mismatch_is_refused_before_the_model_loads(scail2: Path, clip: dict[str, str],
                                                             tmp_path: Path) -> None:
    pipeline = ScailPipeline(scail2, "cpu")
    with pytest.raises(InputError, match=r"reference mask shows 1 person \(blue\) but the driving mask shows 2 people "
                                         r"\(blue, red\)"):
        pipeline.generate(scail2_job(clip, tmp_path / "out.mp4", reference_mask=clip["one_mask"]))
    assert pipeline._dit is None and not (tmp_path / "out.mp4").exists()


def test_scail_generate_takes_extra_references_and_preview_refuses_them(scail2: Path, tiny_checkpoint: Path,
                                                                        clip: dict[str, str], tmp_path: Path) -> None:
    def generate(checkpoint: Path, out: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "scail_blender.cli", "generate", "--checkpoint", str(checkpoint), "--ref",
             clip["ref"], "--pose", clip["pose"], "--ref-mask", clip["ref_mask"], "--pose-mask", clip["mask"],
             "--extra-reference", clip["side"], clip["side_mask"], "--extra-reference", clip["back"],
             clip["back_mask"], "--steps", "1", "--size", "64x64", "--out", str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=120)

    done = generate(scail2, tmp_path / "out.mp4")
    assert done.returncode == 0, done.stderr
    assert probe_video(tmp_path / "out.mp4").frames == 5
    refused = generate(tiny_checkpoint, tmp_path / "preview.mp4")
    assert refused.returncode != 0 and "takes no extra reference views" in refused.stderr
    assert not (tmp_path / "preview.mp4").exists()


def test_extra_references_travel_as_numbered_pairs_and_come_back_in_order() -> None:
    inputs = JobInputs(reference_image="r.png", pose_video="p.mp4", extra_references=["a.png", "b.png"],
                       extra_reference_masks=["am.png", "bm.png"])
    files = extra_reference_files(inputs)
    assert files == {"extra_reference_0": "a.png", "extra_reference_mask_0": "am.png",
                     "extra_reference_1": "b.png", "extra_reference_mask_1": "bm.png"}
    assert extra_references_from_files(files) == (["a.png", "b.png"], ["am.png", "bm.png"])
    with pytest.raises(InputError, match="send both 'extra_reference_1'"):
        extra_references_from_files({k: v for k, v in files.items() if k != "extra_reference_1"})
    with pytest.raises(InputError, match="do not follow on"):
        extra_references_from_files({"extra_reference_1": "b.png", "extra_reference_mask_1": "bm.png"})
    unpaired = Job(inputs=JobInputs(reference_image="r.png", pose_video="p.mp4", extra_references=["a.png"]))
    with pytest.raises(InputError, match="1 images but 0 masks"):
        unpaired.validate()
    many = ["x.png"] * (MAX_EXTRA_REFERENCES + 1)
    with pytest.raises(OverLimit, match="at most"):
        Job(inputs=JobInputs(reference_image="r.png", pose_video="p.mp4", extra_references=many,
                             extra_reference_masks=many)).validate()
