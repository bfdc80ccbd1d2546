"""Extract Motion from Video in the real bpy module, against the in-process runner (the job
runs in the runner's worker, the drain imports the motion on the main thread, cancel works) and
against a real ``scail serve`` (upload, events and download in a thread)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.conftest import TOKEN, running_server
from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def test_extract_motion_operator_imports_the_extracted_people(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "extract_operator.py", {"folder": str(tmp_path)})
    assert result["result"] == ["FINISHED"], result
    assert result["state"] == "succeeded" and result["motion_file"], result
    assert result["image_size"] == [512, 896], "frames are cropped to the model size as SCAIL-Pose does"
    assert len(result["armatures"]) == 2 and result["progress"] == 1.0, result
    assert result["message"].startswith("imported 2 armature(s)"), result["message"]
    assert result["calls"] >= 1, "the import happened through the drain"
    assert result["cancelled_state"] == "cancelled" and "cancelled" in result["cancelled_message"], result
    assert result["after_cancel"] == result["armatures"], "a cancelled extraction imports nothing"
    assert {"op scail.extract_motion", "progress", "op scail.job_cancel"} <= set(result["running_panel"])
    assert f"label {result['message']}" in result["done_panel"], result["done_panel"]


@pytest.mark.oldest_blender
def test_extract_motion_operator_through_the_job_server(tmp_path: Path) -> None:
    from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
    from scail_blender.extract.testing import write_tiny_weights

    checkpoint = write_tiny_checkpoint(tmp_path / "SCAIL-Preview")
    weights = write_tiny_weights(tmp_path / "server_weights")
    with running_server(checkpoint, tmp_path / "data", "--pose-weights", str(weights)) as server:
        result = run_script(SCRIPTS / "extract_operator.py", {"folder": str(tmp_path / "blend"), "server": server.url,
                                                              "token": TOKEN})
    assert result["state"] == "succeeded" and result["motion_file"], result
    assert result["image_size"] == [512, 896], "frames are cropped to the model size as SCAIL-Pose does"
    assert len(result["armatures"]) == 2 and result["message"].startswith("imported 2 armature(s)"), result
