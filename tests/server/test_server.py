"""The job server as a client sees it: a real ``scail serve`` process on loopback."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest
import requests

from scail_blender.errors import InputError, ServerError, VideoError
from scail_blender.media.video import probe_video

from tests.support import ROOT
from .conftest import TOKEN, Server, a_job, child_env

AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOUNDARY = "scailtestboundary"
WAIT = 120


def post_job(server: Server, files: dict, job: object = None, headers: dict | None = None) -> requests.Response:
    form = dict(files)
    if job is not None:
        form["job"] = (None, job if isinstance(job, str) else json.dumps(job))
    return requests.post(server.url + "/v1/jobs", files=form, headers=AUTH if headers is None else headers,
                         timeout=WAIT)


def small_files(media: dict[str, Path], **override) -> dict:
    files = {"reference": ("ref.png", media["ref64"].read_bytes()), "pose": ("pose.mp4", media["pose64"].read_bytes())}
    files.update(override)
    return files


SMALL = {"prompt": "a person dances", "settings": {"steps": 2, "height": 64, "width": 64}}


def test_submit_follow_download_delete(server: Server, media: dict[str, Path], tmp_path: Path) -> None:
    client = server.client()
    submitted = client.submit(a_job(media, steps=3))
    assert submitted.state == "queued" and len(submitted.id) == 32
    events = list(client.events(submitted.id))
    assert events[-1].state == "succeeded"
    assert [e.step for e in events if e.state == "running" and e.phase == "denoise"] == [0, 1, 2, 3]
    assert [e.progress for e in events] == sorted(e.progress for e in events)
    raw = requests.get(f"{server.url}/v1/jobs/{submitted.id}", headers=AUTH, timeout=10).json()
    assert {"state", "phase", "step", "total", "progress", "eta_seconds", "error", "result"} <= raw.keys()
    assert raw["result"]["output"] == f"/v1/jobs/{submitted.id}/result" and raw["settings"]["steps"] == 3
    out = client.download(submitted.id, tmp_path / "sub" / "out.mp4")
    info = probe_video(out)
    assert (info.frames, info.width, info.height) == (5, 64, 64)
    assert submitted.id in [s.id for s in client.list(limit=500)[0]]
    client.delete(submitted.id)
    with pytest.raises(ServerError) as missing:
        client.get(submitted.id)
    assert (missing.value.code, missing.value.status) == ("not_found", 404)
    assert not (server.data_dir / "jobs" / submitted.id).exists()


def test_cancel_a_running_job(server: Server, media: dict[str, Path]) -> None:
    client = server.client()
    job_id = client.submit(a_job(media, steps=1000, sampler="euler")).id
    asked = False
    for status in client.events(job_id):
        if status.phase == "denoise" and status.step >= 1 and status.state == "running" and not asked:
            assert status.eta_seconds is not None
            client.cancel(job_id)
            asked = True
    assert status.state == "cancelled" and status.step < 1000
    with pytest.raises(ServerError) as not_ready:
        client.download(job_id, server.data_dir.parent / "never.mp4")
    assert not_ready.value.code == "not_ready"
    assert client.wait(client.submit(a_job(media, steps=1)).id).state == "succeeded", "the queue still serves"


def test_twenty_concurrent_submissions_all_finish_in_order(server: Server, media: dict[str, Path]) -> None:
    client = server.client()
    ids: list[str] = []
    errors: list[BaseException] = []

    def submit(seed: int) -> None:
        try:
            ids.append(client.submit(a_job(media, size=32, steps=1, seed=seed)).id)
        except (ServerError, OSError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(seed,)) for seed in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not errors and len(set(ids)) == 20
    finals = {job_id: client.wait(job_id) for job_id in ids}
    assert {s.state for s in finals.values()} == {"succeeded"}
    listed = [s for s in client.list(limit=500)[0] if s.id in finals]
    assert len(listed) == 20
    starts = [s.started for s in listed]  # the list is in submission order: they ran in it
    assert starts == sorted(starts)


def test_bad_inputs_get_4xx_json_and_leave_the_queue_intact(server: Server, media: dict[str, Path]) -> None:
    client = server.client()
    before = client.list(limit=500)[1]
    image, video = media["ref64"].read_bytes(), media["pose64"].read_bytes()
    cases = [
        (small_files(media, pose=("pose.mp4", media["corrupt"].read_bytes())), SMALL, 400, "invalid_video"),
        (small_files(media, reference=("ref.png", media["not_an_image"].read_bytes())), SMALL, 400, "invalid_input"),
        (small_files(media, reference=("ref.png", media["bomb"].read_bytes())), SMALL, 400, "invalid_input"),
        (small_files(media, pose=("pose.mp4", media["big"].read_bytes())), SMALL, 413, "too_large"),
        (small_files(media, reference=("../../ref.png", image)), SMALL, 400, "invalid_filename"),
        (small_files(media, pose=("/etc/pose.mp4", video)), SMALL, 400, "invalid_filename"),
        (small_files(media), "{not json", 422, "invalid_job"),
        (small_files(media), {"settings": {"stepz": 3}}, 422, "invalid_job"),
        (small_files(media), {"settings": {"steps": "3"}}, 422, "invalid_job"),
        (small_files(media), {"settings": {"sampler": "ddim"}}, 422, "invalid_job"),
        (small_files(media), {"settings": {"steps": 0}}, 400, "invalid_input"),
        (small_files(media), None, 400, "invalid_job"),
        ({"reference": ("ref.png", image)}, SMALL, 400, "invalid_upload"),
        (small_files(media, extra=("x.txt", b"x")), SMALL, 400, "invalid_upload"),
    ]
    for files, job, status, code in cases:
        response = post_job(server, files, job)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (code, response.text)
        assert response.json()["error"]["message"]
    for headers in ({}, {"Authorization": "Bearer wrong-token-000000"}, {"Authorization": TOKEN}):
        response = post_job(server, small_files(media), SMALL, headers)
        assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthorized")
    for headers, code in (({"Origin": "http://evil.example"}, "cross_origin"), ({"Host": "evil.example:80"}, "bad_host")):
        response = post_job(server, small_files(media), SMALL, {**AUTH, **headers})
        assert (response.status_code, response.json()["error"]["code"]) == (403, code)
    for method, path in (("GET", ""), ("GET", "/events"), ("GET", "/result"), ("POST", "/cancel"), ("DELETE", "")):
        response = requests.request(method, f"{server.url}/v1/jobs/0123abc{path}", headers=AUTH, timeout=10)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    with pytest.raises(InputError, match="uploaded reference"):
        client.submit(_with(a_job(media), reference_image=str(media["not_an_image"])))
    with pytest.raises(VideoError):
        client.submit(_with(a_job(media), pose_video=str(media["corrupt"])))
    assert client.list(limit=500)[1] == before, "no refused upload became a job"
    assert list((server.data_dir / "uploads").iterdir()) == [], "refused uploads leave no files"
    assert client.wait(client.submit(a_job(media, steps=1)).id).state == "succeeded"


def test_an_upload_over_the_limit_is_cut_off_while_it_streams(server: Server) -> None:
    """A chunked body (no Content-Length) gets its 413 once past the 1 MB limit, long before the
    client has sent it all."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"pose\"; filename=\"p.mp4\"\r\n\r\n").encode()
    port = int(server.url.rsplit(":", 1)[1])
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .encode())
        for data in [head] + [b"\0" * 65536] * 256:  # 16 MB offered
            if select.select([sock], [], [], 0.01)[0]:  # paced, so kernel buffers do not run ahead
                break
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
            sent += len(data)
        answer = _read_response(sock)
    assert answer.startswith("HTTP/1.1 413") and '"too_large"' in answer
    assert sent < 4 * 2**20, f"the server read {sent} bytes before refusing"


def test_the_client_streams_uploads_and_one_over_the_limit_is_refused_by_its_length(server: Server,
                                                                                  media: dict[str, Path],
                                                                                  tmp_path: Path) -> None:
    """The client reads upload files while it sends them (64 MB here, over this server's 1 MB
    limit), and their Content-Length lets the server refuse at once: the user gets the server's
    size message, not a broken connection, and the client never held the file."""
    big = tmp_path / "big.mp4"
    with open(big, "wb") as out:
        out.truncate(64 * 2**20)
    client = server.client()
    before = client.list()[1]
    tracemalloc.start()
    try:
        with pytest.raises(ServerError, match="takes at most 1 MB") as refused:
            client.submit(_with(a_job(media), pose_video=str(big)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.code == "too_large" and peak < 8 * 2**20, peak
    assert client.list()[1] == before


def _read_response(sock: socket.socket) -> str:
    """The whole response: its head and body may arrive in separate packets."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _with(job, **inputs):
    for key, value in inputs.items():
        setattr(job.inputs, key, value)
    return job


def test_health_models_and_release(server: Server, media: dict[str, Path]) -> None:
    client = server.client()
    client.wait(client.submit(a_job(media, steps=1)).id)
    assert client.health()["ok"] is True
    models = client.models()
    assert (models["variant"], models["device"], models["loaded"]) == ("scail", "cpu", True)
    assert models["memory"]["process_rss"] > 0
    released = client.release()
    assert released["released"] is True and released["model"]["loaded"] is False
    schema = requests.get(server.url + "/openapi.json", timeout=10).json()
    assert "/v1/jobs/{job_id}/events" in schema["paths"]
    body = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["job"]["$defs"]["JobSettings"]["additionalProperties"] is False


def test_scail_submit_and_jobs_commands(server: Server, media: dict[str, Path], tmp_path: Path) -> None:
    base = [sys.executable, "-m", "scail_blender.cli"]
    flags = ["--server", server.url, "--token", TOKEN]
    proc = subprocess.run([*base, "submit", *flags, "--ref", str(media["ref64"]), "--pose", str(media["pose64"]),
                           "--steps", "2", "--size", "64x64", "--out", str(tmp_path / "cli.mp4")],
                          check=False, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and probe_video(tmp_path / "cli.mp4").frames == 5
    assert [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("denoise")] == ["0/2", "1/2", "2/2"]
    job_id = proc.stdout.split("job ")[-1].strip(" )\n")
    listed = subprocess.run([*base, "jobs", *flags], check=False, cwd=ROOT, env=child_env(), capture_output=True,
                            text=True, timeout=WAIT)
    assert listed.returncode == 0 and job_id in listed.stdout
    queued = subprocess.run([*base, "submit", *flags, "--ref", str(media["ref64"]), "--pose", str(media["pose64"]),
                             "--steps", "1000", "--sampler", "euler", "--size", "64x64", "--out", "x.mp4", "--no-wait"],
                            check=False, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=WAIT)
    other = queued.stdout.strip()
    assert queued.returncode == 0 and len(other) == 32, queued.stderr
    deleted = subprocess.run([*base, "jobs", *flags, "--delete", other], check=False, cwd=ROOT, env=child_env(),
                             capture_output=True, text=True, timeout=WAIT)
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    assert other not in [s.id for s in server.client().list(limit=500)[0]]
    bad = subprocess.run([*base, "jobs", "--server", server.url, "--token", "wrong-token-000000"], check=False,
                         cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=WAIT)
    assert bad.returncode == 2 and "needs its token" in bad.stderr
