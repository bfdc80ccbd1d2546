"""``scail serve --ray``: a real server in front of a local Ray instance with two CPU actors.

One Ray head per module (starting Ray costs seconds): a child process that runs ``ray.init`` on
loopback only and shuts its processes down when terminated. Each test starts its own server on it,
so the actors (owned by the server) come and go with the server, as on a real cluster.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scail_blender.jobs.status import JobStatus

from tools.ray_head import local_head

from .conftest import ROOT, Server, a_job, child_env, running_server
from tests.support.loras import write_lora

pytest.importorskip("ray")

pytestmark = pytest.mark.timeout(240)

JOB_TIMEOUT = 120.0
# Ray's token auth with a token of this run only (nothing is written to ~/.ray).
TOKEN_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def ray_env() -> dict[str, str]:
    return {**child_env(), **TOKEN_ENV, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_head(tmp_path_factory.mktemp("ray"), 2, ray_env(), cwd=ROOT) as address:
        yield address


def ray_server(checkpoint: Path, data_dir: Path, address: str):
    """``running_server`` with the Ray environment and two one-CPU actors."""
    return running_server(checkpoint, data_dir, "--ray", address, "--ray-actors", "2", "--ray-gpus-per-actor", "0",
                          env=ray_env())


def wait_final(server: Server, ids: list[str], timeout: float = JOB_TIMEOUT) -> dict[str, JobStatus]:
    client, deadline = server.client(), time.monotonic() + timeout
    while True:
        statuses = {i: client.get(i) for i in ids}
        if all(s.final for s in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            pytest.fail(f"jobs not done after {timeout} s: {statuses}\n{server.output()}")
        time.sleep(0.3)


def wait_for(predicate, what: str, server: Server, timeout: float = JOB_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s:\n{server.output()}")
        time.sleep(0.1)
    return value


def starts(server: Server) -> list[tuple[str, str]]:
    """(job id, actor) for every start of a job on an actor, from the server's log."""
    return re.findall(r"job (\w+) started on Ray actor (worker-\d+)", server.output())


def actor_pids(server: Server) -> dict[str, str]:
    return dict(re.findall(r"Ray actor (worker-\d+) ready: pid (\d+)", server.output()))


def test_ten_jobs_spread_over_both_actors(checkpoint, media, tmp_path, ray_address) -> None:
    with ray_server(checkpoint, tmp_path / "data", ray_address) as server:
        client = server.client()
        ids = [client.submit(a_job(media, steps=1)).id for _ in range(10)]
        statuses = wait_final(server, ids)
        assert {s.state for s in statuses.values()} == {"succeeded"}, statuses
        ran = starts(server)
        assert sorted(job for job, _ in ran) == sorted(ids)  # each once
        assert {actor for _, actor in ran} == {"worker-0", "worker-1"}
        result = client.download(ids[-1], tmp_path / "out.mp4")
        assert result.stat().st_size > 0
        events = list(client.events(ids[0]))  # a finished job's stream: its final status
        assert events[-1].state == "succeeded"


def test_a_lora_stack_reaches_the_actor(checkpoint, media, tmp_path, ray_address) -> None:
    """A stack of a server-folder LoRA and an uploaded one is sent to the actor with the job's files
    and merged there in order (the server's data dir is not the actor's)."""
    (tmp_path / "loras").mkdir()
    write_lora(tmp_path / "loras" / "style.safetensors")
    mine = write_lora(tmp_path / "mine.safetensors", "peft")
    server_ctx = running_server(checkpoint, tmp_path / "data", "--ray", ray_address, "--ray-actors", "2",
                                "--ray-gpus-per-actor", "0", "--lora-dir", str(tmp_path / "loras"), env=ray_env())
    with server_ctx as server:
        job = a_job(media, steps=1, loras=[{"name": "style.safetensors", "strength": 0.5},
                                           {"name": str(mine), "strength": 2.0}])
        job_id = server.client().submit(job).id
        status = wait_final(server, [job_id])[job_id]
        assert status.state == "succeeded", status.error
        assert "lora=style.safetensors@0.5+mine.safetensors@2 " in status.result.speed


def test_killed_actor_job_finishes_on_the_other(checkpoint, media, tmp_path, ray_address) -> None:
    with ray_server(checkpoint, tmp_path / "data", ray_address) as server:
        client = server.client()
        long_id = client.submit(a_job(media, steps=400)).id
        short = [client.submit(a_job(media, steps=1)).id for _ in range(3)]
        victim = wait_for(lambda: dict(starts(server)).get(long_id), "the long job starting", server)
        wait_for(lambda: client.get(long_id).phase == "denoise", "denoising", server)
        pid = actor_pids(server)[victim]
        os.kill(int(pid), signal.SIGKILL)
        statuses = wait_final(server, [long_id, *short])
        assert {s.state for s in statuses.values()} == {"succeeded"}, statuses
        runs = [actor for job, actor in starts(server) if job == long_id]
        assert runs[0] == victim and len(runs) == 2 and runs[1] != victim, runs
        jobs, total = client.list()
        assert total == 4 and sorted(j.id for j in jobs) == sorted([long_id, *short])
        assert server.client()._request("GET", f"/v1/jobs/{long_id}").json()["attempts"] == 2
        # Ray restarted the killed actor: a new process under the same name.
        wait_for(lambda: len(re.findall(rf"Ray actor {victim} ready", server.output())) == 2, "the restart", server)


def test_progress_streams_back_and_cancel_reaches_the_actor(checkpoint, media, tmp_path, ray_address) -> None:
    with ray_server(checkpoint, tmp_path / "data", ray_address) as server:
        client = server.client()
        long_id = client.submit(a_job(media, steps=400)).id
        seen: list[JobStatus] = []
        for status in client.events(long_id):  # SSE, fed by the actor's progress
            seen.append(status)
            if status.phase == "denoise" and status.step >= 2 and status.state == "running":
                client.cancel(long_id)
                break
        seen.extend(client.events(long_id))
        assert seen[-1].state == "cancelled", seen[-1]
        steps = [s.step for s in seen if s.phase == "denoise"]
        assert steps[-1] < 400 and steps == sorted(steps)
        after = client.submit(a_job(media, steps=1)).id  # the actor serves on
        assert wait_final(server, [after])[after].state == "succeeded"


def test_server_restart_with_cluster_up_accounts_for_every_job(checkpoint, media, tmp_path, ray_address) -> None:
    data = tmp_path / "data"
    with ray_server(checkpoint, data, ray_address) as first:
        client = first.client()
        ids = [client.submit(a_job(media, steps=40 if i < 2 else 1)).id for i in range(6)]
        wait_for(lambda: sum(client.get(i).state == "running" for i in ids), "a job running", first)
        first.proc.kill()  # kill -9: its actors die with it, the cluster stays up
        first.proc.wait(30)
    with ray_server(checkpoint, data, ray_address) as second:
        statuses = wait_final(second, ids)
        assert {s.state for s in statuses.values()} == {"succeeded"}, statuses
        jobs, total = second.client().list()
        assert total == 6 and sorted(j.id for j in jobs) == sorted(ids)
        for job_id in ids:
            assert (data / "jobs" / job_id / "result.mp4").is_file()


def test_sigterm_requeues_the_jobs_of_every_actor_without_an_attempt(checkpoint, media, tmp_path, ray_address) -> None:
    """A clean stop with both actors busy and a job waiting: the server exits within seconds, and the
    next start runs all three, each counted once."""
    data = tmp_path / "data"
    with ray_server(checkpoint, data, ray_address) as first:
        client = first.client()
        ids = [client.submit(a_job(media, steps=400 if i < 2 else 1)).id for i in range(3)]
        wait_for(lambda: all(client.get(i).phase == "denoise" for i in ids[:2]), "both long jobs denoising", first)
        first.proc.send_signal(signal.SIGTERM)
        try:
            assert first.proc.wait(15) == 0, first.output()
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not stop within 15 s of SIGTERM:\n{first.output()}")
        assert "stopping: 2 running job(s) queued again" in first.output()
        assert "Traceback" not in first.output(), first.output()
    with ray_server(checkpoint, data, ray_address) as second:
        statuses = wait_final(second, ids, timeout=240)
        assert {s.state for s in statuses.values()} == {"succeeded"}, statuses
        raw = [second.client()._request("GET", f"/v1/jobs/{i}").json()["attempts"] for i in ids]
        assert raw == [1, 1, 1], raw


def test_without_ray_nothing_of_ray_is_imported(checkpoint, tmp_path) -> None:
    code = ("import sys\nfrom pathlib import Path\nfrom fastapi.testclient import TestClient\n"
            "from scail_server import Settings, create_app\nimport scail_blender.commands.serve\n"
            f"app = create_app(Settings(checkpoint=Path({str(checkpoint)!r}), data_dir=Path({str(tmp_path)!r}), "
            "device='cpu'))\nwith TestClient(app, base_url='http://127.0.0.1') as client:\n    assert client.get('/v1/health').status_code == 200\n"
            "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray imported'\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(), check=True, timeout=120)


def test_cluster_settings_refuse_what_cannot_work() -> None:
    from scail_blender.errors import InputError
    from scail_server.settings import ClusterSettings

    ClusterSettings(address="auto").check()
    ClusterSettings(address="auto", actors=2, gpus_per_actor=0).check()
    for bad in (ClusterSettings(address="auto", gpus_per_actor=0), ClusterSettings(address="auto", actors=0),
                ClusterSettings(address="auto", cpus_per_actor=-1)):
        with pytest.raises(InputError, match="--ray-"):
            bad.check()
