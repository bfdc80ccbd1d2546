"""Job.check_model: each model's inputs checked before it loads (the model read from the checkpoint)."""

from __future__ import annotations

import pytest

from scail_blender.errors import InputError
from scail_blender.jobs.contract import Job, JobInputs, JobSettings


def job(settings: JobSettings | None = None, **inputs) -> Job:
    return Job(inputs=JobInputs(reference_image="ref.png", pose_video="pose.mp4", **inputs),
               settings=settings or JobSettings())


def test_multianimate_needs_masks_and_reference_pose() -> None:
    job(character_masks=["a.mp4", "b.mp4", "c.mp4"], reference_pose="pose.png").check_model("multianimate")
    with pytest.raises(InputError, match="one mask video per character.*0 given"):
        job(reference_pose="pose.png").check_model("multianimate")
    with pytest.raises(InputError, match="1 to 7.*8 given"):
        job(character_masks=["m.mp4"] * 8, reference_pose="pose.png").check_model("multianimate")
    with pytest.raises(InputError, match="reference_pose"):
        job(character_masks=["a.mp4"]).check_model("multianimate")


def test_multianimate_refuses_scail_only_settings() -> None:
    inputs = dict(character_masks=["a.mp4"], reference_pose="pose.png")
    with pytest.raises(InputError, match="mode replacement, cache 0.1"):
        job(JobSettings(mode="replacement", cache=0.1), **inputs).check_model("multianimate")
    with pytest.raises(InputError, match="variant is scail2 but the checkpoint is MultiAnimate"):
        job(JobSettings(variant="scail2"), **inputs).check_model("multianimate")


def test_scail_models_refuse_multianimate_inputs_and_scail2_needs_its_masks() -> None:
    job().check_model("scail")
    with pytest.raises(InputError, match="MultiAnimate inputs, but the checkpoint is SCAIL-Preview"):
        job(character_masks=["a.mp4"]).check_model("scail")
    with pytest.raises(InputError, match="SCAIL-2 needs inputs.reference_mask"):
        job().check_model("scail2")
    job(reference_mask="m.png", pose_mask="m.mp4").check_model("scail2")
    with pytest.raises(InputError, match="unknown"):
        job().check_model("wan")


def test_new_inputs_survive_the_round_trip() -> None:
    original = job(character_masks=["a.mp4", "b.mp4"], reference_pose="pose.png")
    assert Job.from_dict(original.to_dict()) == original
