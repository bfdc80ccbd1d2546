"""The job contract: one vocabulary, a lossless dict form, and value checks before any loading."""

from __future__ import annotations

import dataclasses

import pytest

from scail_blender.jobs.contract import MODES, SAMPLERS, VARIANTS, Job, JobInputs, JobResult, JobSettings
from scail_blender.engine.sampling import SAMPLER_CLASSES, make_sampler
from scail_blender.errors import InputError
from scail_blender.progress import PHASES, Progress


def a_job(**settings) -> Job:
    return Job(inputs=JobInputs(reference_image="ref.png", pose_video="pose.mp4", prompt="a dancer"),
               settings=JobSettings(**settings), output="out.mp4")


def test_sampler_registry_serves_exactly_the_contract_names() -> None:
    assert set(SAMPLER_CLASSES) == set(SAMPLERS)
    for name in SAMPLERS:
        assert len(make_sampler(name, 4, 3.0).timesteps) == 4
    with pytest.raises(ValueError, match="unipc"):
        make_sampler("ddim", 4, 3.0)


def test_job_dict_round_trip_keeps_every_field() -> None:
    job = a_job(steps=8, cfg=1.0, shift=1.0, seed=123, sampler="euler", max_frames=33, height=896, width=512,
                variant="scail2", mode="replacement")
    assert Job.from_dict(job.to_dict()) == job
    result = JobResult(output="o.mp4", frames=81, fps=16.0, seconds=1.5, height=512, width=896, seed=3)
    assert JobResult.from_dict(result.to_dict()) == result


def test_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        JobInputs("ref.png", "pose.mp4")  # type: ignore[misc]
    assert all(f.kw_only for f in dataclasses.fields(JobSettings))


@pytest.mark.parametrize("settings, message", [
    ({"steps": 0}, "settings.steps"), ({"cfg": -1.0}, "settings.cfg"), ({"shift": 0.0}, "settings.shift"),
    ({"sampler": "ddim"}, "settings.sampler"), ({"variant": "wan"}, "settings.variant"),
    ({"mode": "dance"}, "settings.mode"), ({"height": 500, "width": 896}, "settings.height"),
    ({"height": 512}, "give both or neither"), ({"mode": "replacement", "variant": "scail"}, "SCAIL-2"),
])
def test_bad_values_fail_with_the_field_named(settings: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        a_job(**settings).validate()


def test_every_phase_the_code_reports_is_in_the_one_list() -> None:
    assert {"render", "extract", "denoise", "done"} <= set(PHASES) and set(MODES) and set(VARIANTS)
    with pytest.raises(ValueError, match="PHASES"):
        Progress("rendering", 0, 1)
