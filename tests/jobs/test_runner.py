"""The one runner: jobs keep flowing past failures, cancel works queued and running, the model
is released on request, and a job run through it is the same video as the pipeline's own."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from scail_blender.errors import Cancelled, InputError, VideoError
from scail_blender.jobs.contract import Job, JobInputs, JobResult, JobSettings
from scail_blender.jobs.runner import JobHandle, LocalRunner
from scail_blender.jobs.status import JobError, JobStatus
from scail_blender.progress import Progress, check_cancel

WAIT = 30.0


def a_job(seed: int = 0, steps: int = 3, output: str = "out.mp4", **inputs: str) -> Job:
    files = {"reference_image": "ref.png", "pose_video": "pose.mp4", **inputs}
    return Job(inputs=JobInputs(**files), settings=JobSettings(seed=seed, steps=steps, height=64, width=64),
               output=output)


class FakePipeline:
    """Stands in for ScailPipeline: seed 1 is a user error, seed 2 a bug, seed 3 waits for ``gate``."""

    def __init__(self) -> None:
        self.ran: list[int] = []
        self.released = 0
        self.loaded = False
        self.gate = threading.Event()
        self.started = threading.Event()

    def generate(self, job: Job, on_progress, cancel: threading.Event) -> JobResult:
        seed = job.settings.seed
        self.ran.append(seed)
        self.loaded = True
        self.started.set()
        if seed == 1:
            raise InputError("the pose video is too short")
        if seed == 2:
            raise ZeroDivisionError("a bug")
        for step in range(job.settings.steps + 1):
            if seed == 3:
                self.gate.wait(WAIT)
            check_cancel(cancel)
            on_progress(Progress("denoise", step, job.settings.steps))
        return JobResult(output=job.output, frames=5, fps=16.0, seconds=0.0, height=64, width=64, seed=seed)

    def release(self) -> None:
        self.released += 1
        self.loaded = False


@pytest.fixture
def fake() -> FakePipeline:
    return FakePipeline()


@pytest.fixture
def runner(fake: FakePipeline):
    runner = LocalRunner("unused", "cpu", pipeline_factory=lambda *_: fake)
    try:
        yield runner
    finally:
        fake.gate.set()
        runner.close(WAIT)


def test_a_failing_job_does_not_stop_the_next(runner: LocalRunner, fake: FakePipeline) -> None:
    handles = [runner.submit(a_job(seed)) for seed in (1, 2, 0)]
    user, bug, fine = (h.wait(WAIT) for h in handles)
    assert (user.state, user.error.code) == ("failed", "invalid_input") and "too short" in user.error.message
    assert (bug.state, bug.error.code) == ("failed", "internal") and "ZeroDivisionError" in bug.error.message
    assert fine.state == "succeeded" and fine.result.seed == 0 and fine.progress == 1.0
    with pytest.raises(InputError, match="too short"):
        handles[0].result()
    assert fake.ran == [1, 2, 0]


def test_cancel_a_queued_and_a_running_job(runner: LocalRunner, fake: FakePipeline) -> None:
    running = runner.submit(a_job(3, steps=50))
    queued = runner.submit(a_job(0))
    assert fake.started.wait(WAIT)
    queued.cancel()
    assert queued.status.state == "cancelled" and queued.status.finished is not None  # at once
    running.cancel()
    fake.gate.set()
    assert running.wait(WAIT).state == "cancelled"
    with pytest.raises(Cancelled):
        running.result()
    assert fake.ran == [3], "the cancelled queued job never ran"
    assert runner.submit(a_job(0)).wait(WAIT).state == "succeeded", "the queue still serves"


def test_release_frees_the_model_now_or_after_the_running_job(runner: LocalRunner, fake: FakePipeline) -> None:
    runner.submit(a_job(0)).wait(WAIT)
    assert runner.loaded
    assert runner.release() is True and fake.released == 1 and not runner.loaded
    fake.started.clear()
    busy = runner.submit(a_job(3))
    assert fake.started.wait(WAIT)
    assert runner.release() is False and fake.released == 1  # not under a running job
    fake.gate.set()
    busy.wait(WAIT)
    assert fake.released == 2 and not runner.loaded


def test_listeners_see_every_change_in_order_with_progress_over_the_whole_job(runner: LocalRunner) -> None:
    seen: list[JobStatus] = []
    handle = runner.submit(a_job(0, steps=4), listener=seen.append)
    handle.wait(WAIT)
    assert seen[0].state == "running" and seen[-1].state == "succeeded"
    assert [s.step for s in seen if s.state == "running" and s.phase == "denoise"] == [0, 1, 2, 3, 4]
    fractions = [s.progress for s in seen]
    assert fractions == sorted(fractions) and 0.05 <= fractions[1] < fractions[-2] <= 0.95
    assert seen[-2].eta_seconds is not None and seen[-1].eta_seconds is None
    assert JobStatus.from_dict(seen[-1].to_dict()) == seen[-1]


def test_a_requeued_job_measures_its_eta_on_its_new_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job retried after its worker was lost (Ray) must not count the first attempt's time (and
    the wait before the retry) as time per step."""
    from scail_blender.jobs import runner as runner_module

    now = [1000.0]
    monkeypatch.setattr(runner_module, "time", SimpleNamespace(monotonic=lambda: now[0], time=lambda: now[0]))
    handle = JobHandle(a_job(0, steps=10))
    assert handle.start()
    handle.report(Progress("denoise", 0, 10))
    now[0] += 600.0  # the first attempt runs a while, then its worker dies
    assert handle.requeue() and handle.status.eta_seconds is None
    assert handle.start()
    for step in (0, 1, 2):  # 2 s per step on the second attempt
        handle.report(Progress("denoise", step, 10))
        now[0] += 2.0
    assert handle.status.eta_seconds == pytest.approx(2.0 * 8)


def test_stop_interrupts_the_running_job_back_to_queued_and_starts_no_other(runner: LocalRunner,
                                                                         fake: FakePipeline) -> None:
    seen: list[JobStatus] = []
    running = runner.submit(a_job(3, steps=50), listener=seen.append)
    queued = runner.submit(a_job(0))
    assert fake.started.wait(WAIT)
    runner.stop()
    fake.gate.set()
    runner.close(WAIT)
    assert running.status.state == "queued" and running.interrupted, running.status
    assert [s.state for s in seen] == ["running"] * (len(seen) - 1) + ["queued"], "never cancelled"
    assert queued.status.state == "queued" and fake.ran == [3], "the queued job did not start"


def test_a_full_disk_fails_the_job_with_no_space() -> None:
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert JobError.of(full).code == "no_space"
    try:
        try:
            raise full
        except OSError as exc:
            raise VideoError("ffmpeg stopped while writing out.mp4") from exc
    except VideoError as exc:
        assert JobError.of(exc).code == "no_space", "found through the cause"
    ffmpeg = VideoError("Could not encode out.mp4: [out#0/mp4] Error writing trailer: No space left on device")
    error = JobError.of(ffmpeg)
    assert error.code == "no_space" and "free space" in error.message and "Error writing trailer" in error.message
    assert JobError.of(VideoError("Could not encode out.mp4: Invalid argument")).code == "invalid_video"


def test_a_bad_job_is_refused_at_submit(runner: LocalRunner, fake: FakePipeline) -> None:
    with pytest.raises(InputError, match="settings.steps"):
        runner.submit(a_job(0, steps=0))
    assert fake.ran == []


def test_the_runner_makes_the_same_video_as_the_pipeline(tmp_path: Path) -> None:
    from scail_blender.engine.pipeline import ScailPipeline
    from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
    from scail_blender.media.video import read_video, write_video

    root = write_tiny_checkpoint(tmp_path / "ck")
    rng = np.random.default_rng(0)
    write_video([(rng.random((64, 64, 3)) * 255).astype(np.uint8) for _ in range(5)], tmp_path / "pose.mp4", 12)
    Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(tmp_path / "ref.png")
    files = {"reference_image": str(tmp_path / "ref.png"), "pose_video": str(tmp_path / "pose.mp4")}
    ScailPipeline(root, "cpu").generate(a_job(7, output=str(tmp_path / "direct.mp4"), **files))
    runner = LocalRunner(root, "cpu", pipeline_factory=ScailPipeline)
    try:
        first = runner.submit(a_job(7, output=str(tmp_path / "runner.mp4"), **files))
        second = runner.submit(a_job(7, output=str(tmp_path / "again.mp4"), **files))
        assert first.result(120).frames == 5 and second.result(120).frames == 5
        assert runner.loaded, "the model stays loaded between jobs"
    finally:
        runner.close(WAIT)
    direct, ran, again = (np.stack(list(read_video(tmp_path / n))) for n in ("direct.mp4", "runner.mp4", "again.mp4"))
    assert np.array_equal(direct, ran) and np.array_equal(ran, again)
