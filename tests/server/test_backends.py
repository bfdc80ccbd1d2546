"""The two backends a front end sends jobs to, as Blender's job board uses them: the in-process one
(one runner for generations and extractions) and the server one (upload, follow, download), the
latter against a real ``scail serve`` on 127.0.0.1."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scail_blender.errors import InputError
from scail_blender.jobs.backends import InProcessBackend, ServerBackend
from scail_blender.jobs.contract import ExtractJob, ExtractResult, Job, JobInputs, JobResult, JobSettings
from scail_blender.jobs.status import JobStatus

from tests.server.conftest import TOKEN, running_server

WAIT = 60.0


class Recorder:
    """A listener: every status, and an event set by the final one."""

    def __init__(self) -> None:
        self.statuses: list[JobStatus] = []
        self.done = threading.Event()

    def __call__(self, status: JobStatus) -> None:
        self.statuses.append(status)
        if status.final:
            self.done.set()

    def final(self) -> JobStatus:
        assert self.done.wait(WAIT), self.statuses
        return self.statuses[-1]


def a_job(media: dict[str, Path], out: Path, seed: int = 0) -> Job:
    return Job(inputs=JobInputs(reference_image=str(media["ref64"]), pose_video=str(media["pose64"])),
               settings=JobSettings(steps=1, seed=seed, height=64, width=64), output=str(out))


def test_in_process_runs_every_kind_of_job_in_order_on_one_runner(tmp_path: Path) -> None:
    order: list[str] = []
    gate = threading.Event()

    class Pipeline:
        loaded = False

        def generate(self, job: Job, on_progress, cancel) -> JobResult:
            gate.wait(WAIT)
            order.append("generate")
            return JobResult(output=job.output, frames=5, fps=16.0, seconds=0.0, height=64, width=64, seed=0)

        def release(self) -> None:
            pass

    def extractor(job: ExtractJob, on_progress, cancel) -> ExtractResult:
        order.append("extract")
        return ExtractResult(output=job.output, frames=5, people=1, fps=16.0, seconds=0.0)

    backend = InProcessBackend(tmp_path / "SCAIL", lambda *_: Pipeline(), extractor=extractor)
    try:
        generation, extraction = Recorder(), Recorder()
        backend.submit(Job(inputs=JobInputs(reference_image="r.png", pose_video="p.mp4"),
                           output=str(tmp_path / "g.mp4")), generation)
        backend.submit(ExtractJob(video="v.mp4", output=str(tmp_path / "m.npz")), extraction)
        with pytest.raises(InputError, match="checkpoint folder changed while generations run"):
            backend.use_checkpoint(tmp_path / "SCAIL-2")  # one is queued or running
        gate.set()
        assert generation.final().state == extraction.final().state == "succeeded"
        assert order == ["generate", "extract"], "one runner: pressed first, run first, never side by side"
        backend.use_checkpoint(tmp_path / "SCAIL-2")  # idle now: the next generation loads the new one
        assert backend.checkpoint == tmp_path / "SCAIL-2"
    finally:
        gate.set()
        backend.close(WAIT)


def test_the_server_backend_uploads_follows_and_downloads_to_the_jobs_output(
        checkpoint: Path, media: dict[str, Path], tmp_path: Path) -> None:
    with running_server(checkpoint, tmp_path / "data") as server:
        backend = ServerBackend(server.url, TOKEN)
        listener = Recorder()
        out = tmp_path / "here" / "result.mp4"
        job_id = backend.submit(a_job(media, out, seed=3), listener)
        final = listener.final()
        assert final.state == "succeeded" and final.id == job_id
        assert final.result.output == str(out) and out.is_file(), "the result names the downloaded file"
        assert [s.state for s in listener.statuses].count("succeeded") == 1
        backend.remove(job_id)
        assert server.client().list()[1] == 0, "remove deletes the job on the server"
        with pytest.raises(InputError):  # the server's refusal comes back from submit, typed
            backend.submit(Job(inputs=JobInputs(reference_image=str(media["not_an_image"]),
                                                pose_video=str(media["pose64"])), output=str(out)), Recorder())
