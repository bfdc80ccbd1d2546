"""A real ``scail serve`` with a MultiAnimate checkpoint folder: the character masks and the
reference skeleton go up with the job as numbered files and it runs with MultiAnimate's own
defaults; a job without its masks is refused at upload; a Ray worker receives the masks in order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scail_blender.engine.multianimate.tiny import write_tiny_multianimate, write_tiny_wan_i2v
from scail_blender.errors import InputError
from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.media.video import probe_video

from tests.engine.test_multianimate_jobs import media as clip  # noqa: F401 - the three characters' files
from .conftest import TOKEN, Server, running_server

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ma-server")
    write_tiny_wan_i2v(root / "Wan2.1-I2V-14B-720P")
    return write_tiny_multianimate(root / "MultiAnimate")


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(checkpoint, tmp_path_factory.mktemp("data")) as srv:
        yield srv


def job(clip: dict[str, str], masks: int = 3) -> Job:  # noqa: F811
    return Job(inputs=JobInputs(reference_image=clip["ref"], pose_video=clip["pose"], prompt="three person dance",
                                character_masks=[clip[f"mask_{k}"] for k in range(masks)] or None,
                                reference_pose=clip["ref_pose"]),
               settings=JobSettings(steps=2, height=32, width=64, max_frames=5))


def test_the_masks_go_up_with_the_job_and_it_runs(server: Server, clip: dict[str, str],  # noqa: F811
                                                  tmp_path: Path) -> None:
    client = server.client()
    assert client.models()["variant"] == "multianimate"
    submitted = client.submit(job(clip))
    assert client.wait(submitted.id).state == "succeeded", server.output()
    info = probe_video(client.download(submitted.id, tmp_path / "out.mp4"))
    assert (info.frames, info.height, info.width) == (5, 32, 64)
    stored = sorted(p.name for p in (server.data_dir / "jobs" / submitted.id).iterdir()
                    if p.name.startswith(("character_", "reference_pose")))
    assert stored == ["character_mask_0", "character_mask_1", "character_mask_2", "reference_pose"]


def test_missing_masks_and_a_gap_are_refused_at_upload(server: Server, clip: dict[str, str]) -> None:  # noqa: F811
    with pytest.raises(InputError, match="MultiAnimate needs inputs.character_masks"):
        server.client().submit(job(clip, masks=0))
    files = {name: open(clip[stem], "rb") for name, stem in (("reference", "ref"), ("pose", "pose"),
                                                                 ("reference_pose", "ref_pose"),
                                                                 ("character_mask_0", "mask_0"),
                                                                 ("character_mask_2", "mask_2"))}
    try:
        answer = requests.post(f"{server.url}/v1/jobs", headers=AUTH, files=files, timeout=60,
                               data={"job": '{"prompt": "x", "settings": {"steps": 1, "height": 32, "width": 64}}'})
    finally:
        for handle in files.values():
            handle.close()
    assert answer.status_code in (400, 422), answer.text
    assert "without gaps" in answer.json()["error"]["message"]


def test_a_ray_worker_gets_the_masks_in_identity_order(checkpoint: Path, clip: dict[str, str]) -> None:  # noqa: F811
    pytest.importorskip("ray")
    from scail_blender.jobs.references import character_mask_files
    from scail_server.worker import INPUT_FIELDS, ScailWorker

    sent = job(clip)
    paths = {name: path for name in INPUT_FIELDS if (path := getattr(sent.inputs, name)) is not None}
    paths.update(character_mask_files(sent.inputs))
    files = {name: (name, Path(path).read_bytes()) for name, path in paths.items()}
    worker = ScailWorker(str(checkpoint), "cpu")
    seen = []
    submit = worker.runner.submit

    def spy(local, *args, **kwargs):  # the files live only while the job runs: read them now
        seen.append([Path(p).read_bytes() for p in local.inputs.character_masks])
        return submit(local, *args, **kwargs)

    worker.runner.submit = spy
    *_, (status, data) = worker.run("j1", sent.to_dict(), files)
    assert status["state"] == "succeeded" and data, status
    assert seen == [[Path(clip[f"mask_{k}"]).read_bytes() for k in range(3)]]
