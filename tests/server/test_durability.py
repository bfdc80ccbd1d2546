"""Restarts lose nothing: kill -9 mid-job, a second crash of the same job, safe start-up rules."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from scail_server.storage import Storage

from scail_blender.jobs.contract import Job, JobInputs
from scail_blender.jobs.status import JobStatus

from tests.support import ROOT
from .conftest import a_job, child_env, free_port, running_server, serve_args

WAIT = 120


def test_kill_9_mid_job_then_restart_accounts_for_every_job(checkpoint: Path, media: dict[str, Path],
                                                             tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(checkpoint, data) as first:
        client = first.client()
        done = client.submit(a_job(media, steps=1)).id
        assert client.wait(done).state == "succeeded"
        running = client.submit(a_job(media, steps=60, sampler="euler")).id
        queued = client.submit(a_job(media, steps=1)).id
        for status in client.events(running):
            if status.phase == "denoise" and status.step >= 1:
                first.proc.kill()  # SIGKILL: no clean-up runs
                break
        first.proc.wait(30)
    with running_server(checkpoint, data) as second:
        client = second.client()
        listed = {s.id: s for s in client.list()[0]}
        assert list(listed) == [done, running, queued], "every job is there, in submission order"
        assert listed[done].state == "succeeded" and listed[running].state in ("queued", "running")
        assert client.wait(running).state == "succeeded" and client.wait(queued).state == "succeeded"
        again = client.get(running)
        assert again.started < client.get(queued).started
        raw = client.session.get(f"{second.url}/v1/jobs/{running}", timeout=10).json()
        assert raw["attempts"] == 2, "the interrupted job ran a second time"
        assert client.download(running, tmp_path / "after.mp4").stat().st_size > 0


def test_a_follower_rides_out_a_server_restart(checkpoint: Path, media: dict[str, Path], tmp_path: Path) -> None:
    """What Blender and `scail submit` do while a job runs: the server is killed and comes back on
    the same port a few seconds later; the follower keeps asking and gets the job's real end."""
    data, port = tmp_path / "data", free_port()
    ended: list[JobStatus] = []
    with running_server(checkpoint, data, port=port) as first:
        client = first.client()
        job = client.submit(a_job(media, steps=40, sampler="euler")).id
        follower = threading.Thread(target=lambda: ended.append(client.wait(job, patience=120)), daemon=True)
        follower.start()
        deadline = time.monotonic() + 60
        while client.get(job).phase != "denoise" and time.monotonic() < deadline:
            time.sleep(0.1)
        first.proc.kill()
        first.proc.wait(30)
    time.sleep(2)  # the follower meets a closed port for a while
    with running_server(checkpoint, data, port=port):
        follower.join(240)
    assert ended and ended[0].state == "succeeded" and ended[0].result is not None, ended


def test_a_job_interrupted_twice_fails_with_the_reason(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    job = Job(inputs=JobInputs(reference_image="r.png", pose_video="p.mp4"))
    storage.add(job, JobStatus(id="a", created=time.time()))
    storage.add(job, JobStatus(id="b", created=time.time()))
    for _ in range(2):  # two starts, two crashes
        storage.update(JobStatus(id="a", state="running", created=time.time()))
        assert [r.status.id for r in storage.recover()] == (["a", "b"] if _ == 0 else ["b"])
    record = storage.get("a")
    assert record.status.state == "failed" and record.attempts == 2
    assert record.status.error.code == "interrupted" and "stopped 2 times" in record.status.error.message
    storage.close()


def test_binding_beyond_loopback_needs_a_token(checkpoint: Path, tmp_path: Path) -> None:
    proc = subprocess.run([*serve_args(checkpoint, tmp_path / "data", free_port()), "--host", "0.0.0.0"],
                          check=False, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--token" in proc.stderr and "0.0.0.0" in proc.stderr
