"""A real ``scail serve`` with a SCAIL-2 checkpoint takes extra reference views as the job's files
(numbered pairs) unchanged, and refuses a reference mask that shows other people than the driving
mask, and a half pair, at upload, before any model loads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
from scail_blender.errors import InputError
from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.media.video import probe_video

from tests.support.media import write_scail2_media
from .conftest import TOKEN, Server, running_server

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_scail2_media(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("s2")
    checkpoint = write_tiny_checkpoint(root / "SCAIL-2", "scail2")
    with running_server(checkpoint, root / "data") as srv:
        yield srv


def job(clip: dict[str, str], **inputs) -> Job:
    base = dict(reference_image=clip["ref"], pose_video=clip["pose"], prompt="two people dance",
                reference_mask=clip["ref_mask"], pose_mask=clip["mask"])
    base.update(inputs)
    return Job(inputs=JobInputs(**base), settings=JobSettings(steps=1, height=64, width=64))


def test_extra_views_go_up_with_the_job_and_it_runs(server: Server, clip: dict[str, str], tmp_path: Path) -> None:
    client = server.client()
    submitted = client.submit(job(clip, extra_references=[clip["side"], clip["back"]],
                                  extra_reference_masks=[clip["side_mask"], clip["back_mask"]]))
    assert client.wait(submitted.id).state == "succeeded", server.output()
    assert probe_video(client.download(submitted.id, tmp_path / "out.mp4")).frames == 5
    stored = sorted(p.name for p in (server.data_dir / "jobs" / submitted.id).iterdir()
                    if p.name.startswith("extra_"))
    assert stored == ["extra_reference_0", "extra_reference_1", "extra_reference_mask_0", "extra_reference_mask_1"]


def test_a_people_mismatch_and_a_half_pair_are_refused_at_upload(server: Server, clip: dict[str, str]) -> None:
    with pytest.raises(InputError, match=r"reference mask shows 1 person \(blue\) but the driving mask shows 2 people"):
        server.client().submit(job(clip, reference_mask=clip["one_mask"]))
    files = {name: open(clip[stem], "rb") for name, stem in (("reference", "ref"), ("pose", "pose"),
                                                                 ("reference_mask", "ref_mask"), ("pose_mask", "mask"),
                                                                 ("extra_reference_mask_0", "side_mask"))}
    try:
        answer = requests.post(f"{server.url}/v1/jobs", headers=AUTH, files=files, timeout=60,
                               data={"job": '{"prompt": "x", "settings": {"steps": 1, "height": 64, "width": 64}}'})
    finally:
        for handle in files.values():
            handle.close()
    assert answer.status_code in (400, 422), answer.text
    assert "send both 'extra_reference_0'" in answer.json()["error"]["message"]


def test_a_ray_worker_gets_the_extra_views_as_files(tmp_path: Path, clip: dict[str, str]) -> None:
    """The Ray actor's class run in this process: the job's files arrive as bytes by upload field
    name, as the cluster sends them, and the extra views reach the job it runs in order."""
    pytest.importorskip("ray")
    from scail_blender.jobs.references import extra_reference_files
    from scail_server.worker import INPUT_FIELDS, ScailWorker

    checkpoint = write_tiny_checkpoint(tmp_path / "SCAIL-2", "scail2")
    sent = job(clip, extra_references=[clip["side"], clip["back"]],
               extra_reference_masks=[clip["side_mask"], clip["back_mask"]])
    paths = {name: path for name in INPUT_FIELDS if (path := getattr(sent.inputs, name)) is not None}
    paths.update(extra_reference_files(sent.inputs))
    files = {name: (name, Path(path).read_bytes()) for name, path in paths.items()}
    worker = ScailWorker(str(checkpoint), "cpu")
    seen = []
    submit = worker.runner.submit

    def spy(local, *args, **kwargs):  # the files live only while the job runs: read them now
        seen.append([(Path(p).name, Path(p).read_bytes()) for p in local.inputs.extra_reference_masks])
        return submit(local, *args, **kwargs)

    worker.runner.submit = spy
    *_, (status, data) = worker.run("j1", sent.to_dict(), files)
    assert status["state"] == "succeeded" and data
    assert seen == [[("extra_reference_mask_0", Path(clip["side_mask"]).read_bytes()),
                     ("extra_reference_mask_1", Path(clip["back_mask"]).read_bytes())]]
