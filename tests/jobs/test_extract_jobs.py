"""Extraction is a job kind of the one runner: it reports phase "extract" with an ETA, writes a
motion npz that ``read_motion`` reads, cancels between frames, and shares the queue with
generation jobs (which an extraction-only runner refuses with a typed error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scail_blender.jobs.contract import ExtractJob, ExtractResult, ExtractSettings, Job, JobInputs, job_from_dict
from scail_blender.jobs.runner import LocalRunner
from scail_blender.jobs.status import JobStatus
from scail_blender.errors import Cancelled, InputError
from scail_blender.extract.testing import crossing_scene, write_scene, write_tiny_weights
from scail_blender.motion import read_motion

WAIT = 120.0


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("extract_jobs")
    return write_scene(crossing_scene(frames=12), folder / "driving.mp4"), write_tiny_weights(folder / "weights")


@pytest.fixture
def runner():
    runner = LocalRunner(None, "cpu")
    yield runner
    runner.close(timeout=WAIT)


def test_extraction_job_runs_and_reports(runner: LocalRunner, inputs: tuple[Path, Path], tmp_path: Path) -> None:
    video, weights = inputs
    seen: list[JobStatus] = []
    job = ExtractJob(video=str(video), weights=str(weights), output=str(tmp_path / "motion.npz"),
                     settings=ExtractSettings(people=2))
    assert job_from_dict(job.to_dict()) == job  # stored and read back as the same kind
    result = runner.submit(job, listener=seen.append).result(WAIT)
    assert isinstance(result, ExtractResult) and result.frames == 12 and result.people == 2
    motion = read_motion(result.output).motion
    assert (motion.frames, motion.people) == (12, 2)
    running = [s for s in seen if s.state == "running" and s.phase is not None]
    assert [s.phase for s in running][:1] == ["extract"] and running[-1].phase == "write"
    assert [s.step for s in running if s.phase == "extract"] == list(range(1, 13))
    assert any(s.eta_seconds is not None for s in running if s.phase == "extract")
    progress = [s.progress for s in seen]
    assert progress == sorted(progress) and seen[-1].state == "succeeded" and seen[-1].progress == 1.0
    restored = JobStatus.from_dict(seen[-1].to_dict())
    assert restored.result == result


def test_extraction_cancels_and_the_queue_goes_on(runner: LocalRunner, inputs: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    video, weights = inputs
    out = tmp_path / "never.npz"
    handle = runner.submit(ExtractJob(video=str(video), weights=str(weights), output=str(out)),
                           listener=lambda s: s.phase == "extract" and s.step >= 3 and handle.cancel())
    with pytest.raises(Cancelled):
        handle.result(WAIT)
    assert handle.status.state == "cancelled" and handle.status.step < 12 and not out.exists()
    generation = runner.submit(Job(inputs=JobInputs(reference_image="ref.png", pose_video="pose.mp4")))
    with pytest.raises(InputError, match="no SCAIL checkpoint"):
        generation.result(WAIT)
    missing = runner.submit(ExtractJob(video=str(video), weights=str(tmp_path), output=str(out)))
    with pytest.raises(InputError, match="Pose weights missing"):
        missing.result(WAIT)
    assert missing.status.error.code == "invalid_input"


def test_bad_extraction_values_fail_at_submit(runner: LocalRunner) -> None:
    with pytest.raises(InputError, match="people"):
        runner.submit(ExtractJob(video="v.mp4", settings=ExtractSettings(people=0)))
    with pytest.raises(InputError, match="device"):
        runner.submit(ExtractJob(video="v.mp4", settings=ExtractSettings(device="gpu")))
