"""A server's life: a clean stop (SIGTERM) while clients follow, a restart under a download, and
a disk that fills while a job runs. Every server here is a real ``scail serve`` process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from scail_server.storage import Storage

from scail_blender.backend.runner import JobStatus

from tests.support import ROOT
from .conftest import TOKEN, a_job, child_env, free_port, running_server

WAIT = 240
# A clean stop ends the streams at once and the running job after its current step (a step of the
# tiny checkpoint on a CPU takes well under a second); the rest is process exit.
STOP_S = 10.0


def wait_until(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)


def attempts(url: str, job_id: str) -> int:
    raw = requests.get(f"{url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    return raw.json()["attempts"]


def test_sigterm_while_scail_submit_follows_stops_at_once_and_loses_no_attempt(
        checkpoint: Path, media: dict[str, Path], tmp_path: Path) -> None:
    """`scail submit` follows a running job; SIGTERM stops the server within seconds (not after the
    job), the job goes back to the queue without using an attempt, and once the server is back the
    same `scail submit` gets its video."""
    data, port, out = tmp_path / "data", free_port(), tmp_path / "out.mp4"
    with running_server(checkpoint, data, port=port) as first:
        submit = subprocess.Popen(
            [sys.executable, "-m", "scail_blender.cli", "submit", "--server", first.url, "--token", TOKEN,
             "--ref", str(media["ref64"]), "--pose", str(media["pose64"]), "--size", "64x64", "--steps", "60",
             "--sampler", "euler", "--out", str(out)],
            cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            client = first.client()
            wait_until(lambda: client.list()[1] == 1, "the submission")
            job_id = client.list()[0][0].id
            wait_until(lambda: client.get(job_id).phase == "denoise" and client.get(job_id).step >= 2,
                       "denoising")
            assert attempts(first.url, job_id) == 1
            stopped = time.monotonic()
            first.proc.send_signal(signal.SIGTERM)
            try:
                code = first.proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the server did not stop within {STOP_S} s of SIGTERM:\n{first.output()}")
            took = time.monotonic() - stopped
            log = first.output()
            assert code == 0, log
            assert "Traceback" not in log and "cancelled" not in log, log
            assert "stopping: 1 running job(s) queued again for the next start" in log, log
            assert took < STOP_S
            assert submit.poll() is None, "the follower waits for the server to come back"
            storage = Storage(data)
            record = storage.get(job_id)
            storage.close()
            assert record.status.state == "queued" and record.attempts == 0, (record, took)
            assert record.status.step == 0 and record.status.started is None
        except BaseException:
            submit.kill()
            raise
    time.sleep(1)
    with running_server(checkpoint, data, port=port) as second:
        try:
            stdout, stderr = submit.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            submit.kill()
            pytest.fail(f"scail submit did not finish after the restart:\n{second.output()}")
        assert submit.returncode == 0, stderr
        assert "wrote" in stdout and out.stat().st_size > 0
        final = second.client().get(job_id)
        assert final.state == "succeeded"
        assert attempts(second.url, job_id) == 1, "the stopped run did not count"


def test_a_download_rides_out_a_restart(checkpoint: Path, media: dict[str, Path], tmp_path: Path) -> None:
    """The job succeeded, then the server restarts cleanly: the download asks again, as the event
    stream does, instead of failing with 'cannot reach the job server'."""
    data, port = tmp_path / "data", free_port()
    with running_server(checkpoint, data, port=port) as first:
        client = first.client()
        job_id = client.submit(a_job(media, steps=1)).id
        assert client.wait(job_id).state == "succeeded"
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(STOP_S) == 0
    restarted = threading.Event()

    def restart() -> None:
        time.sleep(3)  # the download meets a closed port first
        with running_server(checkpoint, data, port=port):
            restarted.set()
            done.wait(WAIT)

    done = threading.Event()
    thread = threading.Thread(target=restart, daemon=True)
    thread.start()
    try:
        path = client.download(job_id, tmp_path / "later.mp4")
    finally:
        done.set()
        thread.join(60)
    assert restarted.is_set() and path.stat().st_size > 0


def test_a_stopping_event_makes_the_follower_follow_again(checkpoint: Path, media: dict[str, Path],
                                                          tmp_path: Path) -> None:
    """The client side of the stop: the stream's last event is 'stopping', which the client treats
    like a dropped connection (without patience it raises the typed error at once)."""
    data = tmp_path / "data"
    with running_server(checkpoint, data) as server:
        client = server.client()
        job_id = client.submit(a_job(media, steps=400, sampler="euler")).id
        seen: list[JobStatus] = []
        errors: list[BaseException] = []

        def follow() -> None:
            try:
                seen.extend(client.events(job_id))
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                errors.append(exc)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        wait_until(lambda: any(s.phase == "denoise" for s in seen), "denoising")
        server.proc.send_signal(signal.SIGTERM)
        follower.join(STOP_S)
        assert not follower.is_alive(), "the stream ended with the stop"
        assert server.proc.wait(STOP_S) == 0
    assert [type(e).__name__ for e in errors] == ["ServerError"] and errors[0].code == "server_stopping", errors
    assert "stopping" in str(errors[0])
    assert all(s.state == "running" for s in seen[1:]), "no cancelled or failed state reached the follower"


def test_a_stop_requeues_the_running_job_but_keeps_a_cancel_asked_for_before(tmp_path: Path) -> None:
    """The service's side of a stop, on a runner whose job waits inside a step: a running job goes
    back to queued without its attempt, unless the user had asked to cancel it (that one is
    cancelled, not run again at the next start); queued jobs stay queued and do not start."""
    from scail_server.service import JobService
    from scail_server.settings import Settings

    from scail_blender.backend.jobs import Job, JobInputs, JobSettings
    from scail_blender.backend.runner import LocalRunner
    from scail_blender.progress import check_cancel

    inside, leave = threading.Event(), threading.Event()

    class StepThatWaits:
        loaded = True

        def generate(self, job, on_progress, cancel):
            inside.set()
            leave.wait(30)
            check_cancel(cancel)
            raise AssertionError("the job went on past a stop")

        def release(self) -> None:
            pass

    job = Job(inputs=JobInputs(reference_image="r.png", pose_video="p.mp4"), settings=JobSettings(steps=3))
    for cancel_first in (False, True):
        storage = Storage(tmp_path / str(cancel_first))
        runner = LocalRunner("unused", "cpu", pipeline_factory=lambda *_: StepThatWaits())
        service = JobService(Settings(checkpoint=Path("unused"), data_dir=storage.root), storage, runner, "scail")
        for job_id in ("a", "b"):
            status = JobStatus(id=job_id, created=time.time())
            storage.add(job, status)
            service._queue(job, status)
        assert inside.wait(30)
        assert storage.get("a").status.state == "running" and storage.get("a").attempts == 1
        if cancel_first:
            service.cancel("a")
        service.stop()
        leave.set()
        runner.close(30)
        first, second = storage.get("a"), storage.get("b")
        if cancel_first:
            assert first.status.state == "cancelled" and first.attempts == 1, first
        else:
            assert first.status.state == "queued" and first.attempts == 0, first
        assert second.status.state == "queued" and second.attempts == 0
        assert [r.status.id for r in storage.recover()] == (["b"] if cancel_first else ["a", "b"])
        storage.close()
        inside.clear()
        leave.clear()
