"""The app in this process: a nearly full disk refuses uploads before a byte is stored, and
old finished jobs are removed at start-up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from scail_server import Settings, create_app
from scail_server.storage import Storage

from scail_blender.jobs.contract import Job, JobInputs
from scail_blender.jobs.status import JobStatus


@pytest.fixture
def app_factory(checkpoint: Path, tmp_path: Path):
    def make(**settings) -> TestClient:
        settings = Settings(checkpoint=checkpoint, data_dir=tmp_path / "data", max_upload_mb=1, **settings)
        return TestClient(create_app(settings), base_url="http://127.0.0.1")  # the server wants a loopback Host
    return make


def test_a_nearly_full_disk_refuses_uploads(app_factory) -> None:
    with app_factory(min_free_mb=2**40) as client:
        response = client.post("/v1/jobs", files={"pose": ("p.mp4", b"x")})
        assert (response.status_code, response.json()["error"]["code"]) == (507, "no_space")
        assert "free" in response.json()["error"]["message"]


def test_old_finished_jobs_are_removed(app_factory, tmp_path: Path) -> None:
    storage = Storage(tmp_path / "data")
    job = Job(inputs=JobInputs(reference_image="r.png", pose_video="p.mp4"))
    old = time.time() - 3 * 86400
    storage.add(job, JobStatus(id="old", state="succeeded", created=old, finished=old))
    storage.add(job, JobStatus(id="new", state="succeeded", created=time.time(), finished=time.time()))
    storage.add(job, JobStatus(id="waiting", created=old))
    (storage.job_dir("old")).mkdir()
    storage.close()
    with app_factory(keep_days=2) as client:
        assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == ["new", "waiting"]
    assert not (tmp_path / "data" / "jobs" / "old").exists()
