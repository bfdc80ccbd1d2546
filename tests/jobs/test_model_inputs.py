"""check_model: each model's inputs checked before it loads (the model read from the checkpoint)."""

from __future__ import annotations

import pytest

from scail_blender.errors import InputError
from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.jobs.loras import LoraSpec
from scail_blender.jobs.model_inputs import check_model


def job(settings: JobSettings | None = None, **inputs) -> Job:
    return Job(inputs=JobInputs(reference_image="ref.png", pose_video="pose.mp4", **inputs),
               settings=settings or JobSettings())


def test_multianimate_needs_masks_and_reference_pose() -> None:
    check_model(job(character_masks=["a.mp4", "b.mp4", "c.mp4"], reference_pose="pose.png"), "multianimate")
    with pytest.raises(InputError, match="one mask video per character.*0 given"):
        check_model(job(reference_pose="pose.png"), "multianimate")
    with pytest.raises(InputError, match="1 to 7.*8 given"):
        check_model(job(character_masks=["m.mp4"] * 8, reference_pose="pose.png"), "multianimate")
    with pytest.raises(InputError, match="reference_pose"):
        check_model(job(character_masks=["a.mp4"]), "multianimate")


def test_multianimate_refuses_scail_only_settings() -> None:
    inputs = dict(character_masks=["a.mp4"], reference_pose="pose.png")
    with pytest.raises(InputError, match="mode replacement, cache 0.1"):
        check_model(job(JobSettings(mode="replacement", cache=0.1), **inputs), "multianimate")
    with pytest.raises(InputError, match="variant is scail2 but the checkpoint is MultiAnimate"):
        check_model(job(JobSettings(variant="scail2"), **inputs), "multianimate")
    with pytest.raises(InputError, match=r"loras \['distill.safetensors'\]: not available with MultiAnimate"):
        check_model(job(JobSettings(loras=[LoraSpec(name="distill.safetensors")]), **inputs), "multianimate")


def test_scail_models_refuse_multianimate_inputs_and_scail2_needs_its_masks() -> None:
    check_model(job(), "scail")
    with pytest.raises(InputError, match="MultiAnimate inputs, but the checkpoint is SCAIL-Preview"):
        check_model(job(character_masks=["a.mp4"]), "scail")
    with pytest.raises(InputError, match="SCAIL-2 needs inputs.reference_mask"):
        check_model(job(), "scail2")
    check_model(job(reference_mask="m.png", pose_mask="m.mp4"), "scail2")
    with pytest.raises(InputError, match="unknown"):
        check_model(job(), "wan")


def test_new_inputs_survive_the_round_trip() -> None:
    original = job(character_masks=["a.mp4", "b.mp4"], reference_pose="pose.png")
    assert Job.from_dict(original.to_dict()) == original
