"""A server's life: a clean stop (SIGTERM) while clients follow, a restart under a download, and
a disk that fills while a job runs. Every server here is a real ``scail serve`` process."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from scail_server.storage import Storage

from scail_blender.jobs.status import JobStatus

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
            assert f"job {job_id} interrupted by the stop; queued again" in log, log  # the runner's own line
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
    """The client side of the stop, here by Ctrl-C (SIGINT): the stream's last event is 'stopping',
    which the client treats like a dropped connection (without patience it raises the typed error
    at once)."""
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
        server.proc.send_signal(signal.SIGINT)
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

    from scail_blender.jobs.contract import Job, JobInputs, JobSettings
    from scail_blender.jobs.runner import LocalRunner
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


# Room for the server's 1 GB upload reserve (uploads are refused below it) and a few MB of jobs;
# a tmpfs takes memory only for what is written to it.
SMALL_DISK_MB = 1024 + 48


@contextlib.contextmanager
def tmpfs(folder: Path, size_mb: int) -> Iterator[Path]:
    """A real small filesystem mounted at ``folder`` (skips the test where that cannot be done)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
                             check=False, capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """The server's data folder on a small filesystem of its own."""
    with tmpfs(tmp_path / "data", SMALL_DISK_MB) as folder:
        yield folder


def fill(path: Path) -> None:
    """Take every free byte of the filesystem holding ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            os.posix_fallocate(fd, 0, shutil.disk_usage(path.parent).free)
        block = b"\0" * 4096
        while True:
            try:
                os.lseek(fd, 0, os.SEEK_END)
                os.write(fd, block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)


def within(seconds: float, what: str, call):
    """``call()``, failing the test when it has not returned after ``seconds``."""
    done: list = []
    thread = threading.Thread(target=lambda: done.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    if not done:
        pytest.fail(f"{what} did not return within {seconds} s")
    return done[0]


def test_a_disk_that_fills_while_a_job_runs(checkpoint: Path, media: dict[str, Path], small_disk: Path) -> None:
    """The job fails with no_space, in the API and the event streams (also one opened later), the
    log says so once without tracebacks, and once space is back the queue goes on and the failure
    is in the database."""
    with running_server(checkpoint, small_disk) as server:
        client = server.client()
        job_id = client.submit(a_job(media, steps=60, sampler="euler")).id
        wait_until(lambda: client.get(job_id).phase == "denoise", "denoising")
        filler = small_disk / "filler"
        fill(filler)
        final = within(120, "following the job", lambda: client.wait(job_id, patience=0))
        assert final.state == "failed" and final.error.code == "no_space", final
        assert "free space" in final.error.message
        again = within(30, "a stream opened after the failure", lambda: list(client.events(job_id)))
        assert [s.state for s in again] == ["failed"] and again[0].error.code == "no_space"
        listed = {s.id: s for s in client.list()[0]}
        assert listed[job_id].state == "failed" and listed[job_id].error.code == "no_space"
        filler.unlink()
        second = client.submit(a_job(media, steps=1)).id
        assert within(120, "the next job", lambda: client.wait(second)).state == "succeeded"
    log = server.output()
    assert "Traceback" not in log, log[-5000:]
    assert log.count("is full: job status changes are kept in memory") == 1, log[-5000:]
    storage = Storage(small_disk)
    record = storage.get(job_id)
    storage.close()
    assert record.status.state == "failed" and record.status.error.code == "no_space", record


def test_status_writes_on_a_full_disk_are_kept_read_back_and_written_later(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The storage's side, step by step on a full filesystem: statuses the disk refuses are what
    reads return (with the attempt they started), new jobs are refused with 507 no_space, and all of
    it is written, in order and with the right attempt count, once there is space."""
    from scail_server.storage import DiskFull

    from scail_blender.jobs.contract import Job, JobInputs
    from scail_blender.jobs.status import JobError

    with tmpfs(tmp_path / "disk", 4) as disk:
        storage = Storage(disk / "data")
        job = Job(inputs=JobInputs(reference_image="r.png", pose_video="p.mp4"))
        for job_id in ("a", "b"):
            storage.add(job, JobStatus(id=job_id, created=1.0))
        fill(disk / "filler")
        with caplog.at_level("INFO", logger="scail_server.storage"):
            for step in range(20):
                storage.update(JobStatus(id="a", state="running", phase="denoise", step=step, total=20, created=1.0))
            failed = JobStatus(id="a", state="failed", created=1.0, finished=2.0,
                               error=JobError(code="no_space", message="the disk filled up"))
            storage.update(failed)
            storage.update(JobStatus(id="b", state="running", created=1.0))
            assert not storage.flush(), "the disk is still full"
            record = storage.get("a")
            assert record.status == failed and record.attempts == 1
            assert [(r.status.id, r.status.state, r.attempts) for r in storage.page(10, 0)[0]] == [
                ("a", "failed", 1), ("b", "running", 1)]
            assert storage.running() == ["b"]
            with pytest.raises(DiskFull) as refused:
                storage.add(job, JobStatus(id="c", created=1.0))
            assert refused.value.status == 507 and refused.value.code == "no_space"
            (disk / "filler").unlink()
            assert storage.flush()
        storage.close()
        full = [r for r in caplog.records if "is full" in r.getMessage()]
        assert len(full) == 1 and any("has space again" in r.getMessage() for r in caplog.records)
        reopened = Storage(disk / "data")
        assert reopened.get("a").status == failed and reopened.get("a").attempts == 1
        assert (reopened.get("b").status.state, reopened.get("b").attempts) == ("running", 1)
        assert reopened.get("c") is None
        reopened.close()
