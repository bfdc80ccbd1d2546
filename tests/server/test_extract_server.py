"""``POST /v1/extract`` on a real ``scail serve``: the extraction runs on the server's one queue
with its pose weights, ends as a motion npz that ``read_motion`` reads, and bad uploads are
refused with 4xx JSON errors before anything is queued."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scail_blender.jobs.contract import ExtractSettings
from scail_blender.errors import InputError, VideoError
from scail_blender.extract.testing import crossing_scene, write_scene, write_tiny_weights
from scail_blender.motion import read_motion

from .conftest import TOKEN, Server, running_server

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT = 120


@pytest.fixture(scope="module")
def extract_server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    folder = tmp_path_factory.mktemp("extract_srv")
    weights = write_tiny_weights(folder / "weights")
    video = write_scene(crossing_scene(frames=10), folder / "driving.mp4")
    with running_server(checkpoint, folder / "data", "--max-upload-mb", "1", "--pose-weights", str(weights)) as srv:
        yield srv, video


def post(server: Server, files: dict, settings: object = None) -> requests.Response:
    form = dict(files)
    if settings is not None:
        form["settings"] = (None, settings if isinstance(settings, str) else json.dumps(settings))
    return requests.post(server.url + "/v1/extract", files=form, headers=AUTH, timeout=WAIT)


def test_extract_follow_download(extract_server: tuple[Server, Path], media: dict[str, Path], tmp_path: Path) -> None:
    server, video = extract_server
    client = server.client()
    submitted = client.extract(video, align_ref=media["ref64"], settings=ExtractSettings(people=1))
    assert submitted.state == "queued"
    final = client.wait(submitted.id)
    assert final.state == "succeeded", final.error
    assert final.result.kind == "extract" and final.result.frames == 10 and final.result.people == 1
    raw = requests.get(f"{server.url}/v1/jobs/{submitted.id}", headers=AUTH, timeout=10).json()
    assert raw["kind"] == "extract" and raw["settings"]["people"] == 1
    assert raw["result"]["output"] == f"/v1/jobs/{submitted.id}/result"
    motion = read_motion(client.download(submitted.id, tmp_path / "motion.npz")).motion
    assert (motion.frames, motion.people) == (10, 1)
    assert submitted.id in [s.id for s in client.list(limit=500)[0]]


def test_bad_extract_uploads_are_4xx(extract_server: tuple[Server, Path], media: dict[str, Path]) -> None:
    server, video = extract_server
    good = {"video": ("driving.mp4", video.read_bytes())}
    cases = [
        ({}, {"people": 1}, 400, "invalid_upload"),  # no video
        (good, {"people": 1, "colour": "red"}, 422, "invalid_job"),
        (good, {"people": "two"}, 422, "invalid_job"),
        (good, {"people": 0}, 400, "invalid_input"),
        (good, "not json", 422, "invalid_job"),
        ({"video": ("driving.mp4", media["corrupt"].read_bytes())}, None, 400, "invalid_video"),
        ({**good, "align_ref": ("ref.png", media["bomb"].read_bytes())}, None, 400, "invalid_input"),
        ({"video": ("../driving.mp4", video.read_bytes())}, None, 400, "invalid_filename"),
        ({"video": ("driving.mp4", media["big"].read_bytes())}, None, 413, "too_large"),
        ({**good, "reference": ("ref.png", media["ref64"].read_bytes())}, None, 400, "invalid_upload"),
    ]
    for files, settings, status, code in cases:
        answer = post(server, files, settings)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (files.keys(), settings)
        assert "uploads/" not in answer.json()["error"]["message"]
    assert not list((server.data_dir / "uploads").iterdir()), "refused uploads leave nothing behind"
    with pytest.raises(VideoError):
        server.client().extract(media["corrupt"])
    with pytest.raises(InputError, match="cannot read the video file"):
        server.client().extract(server.data_dir / "missing.mp4")


def test_a_server_without_pose_weights_says_so(server: Server, media: dict[str, Path]) -> None:
    answer = post(server, {"video": ("pose.mp4", media["pose64"].read_bytes())})
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "extract_unavailable"
    assert "--pose-weights" in answer.json()["error"]["message"]
