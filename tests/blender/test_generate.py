"""Generate from Blender (bpy module) against a live `scail serve` and in Blender itself, on the
tiny checkpoint at 64x64: strips, cancel, refusals, failures, and the same frames everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scail_blender.jobs.install import ENGINE_PACKAGES, pip_command
from scail_blender.media.video import read_video, write_video

from tests.server.conftest import TOKEN, child_env, running_server
from tests.support import ROOT, run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"
STEPS = 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint

    folder = tmp_path_factory.mktemp("gen")
    rng = np.random.default_rng(1)
    write_video([(rng.random((64, 64, 3)) * 255).astype(np.uint8) for _ in range(5)], folder / "pose.mp4", 16)
    Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(folder / "ref.png")
    return {"checkpoint": write_tiny_checkpoint(folder / "SCAIL-Preview"), "pose": folder / "pose.mp4",
            "ref": folder / "ref.png", "folder": folder}


def frames(path: str | Path) -> np.ndarray:
    return np.stack(list(read_video(path))).astype(np.int16)


def test_generate_from_the_panel(tiny: dict[str, Path], tmp_path: Path, blender_user_dir: dict[str, str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with running_server(tiny["checkpoint"], tmp_path / "data") as server:
        env = {**blender_user_dir, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        result = run_script(SCRIPTS / "generate_jobs.py",
                            {"url": server.url, "token": TOKEN, "checkpoint": str(tiny["checkpoint"]),
                             "ref": str(tiny["ref"]), "pose": str(tiny["pose"]), "folder": str(out), "steps": STEPS},
                            env=env, timeout=240)
    assert result["timer"] and not result["torch_at_enable"]

    job = result["server"]
    assert job["ended"] and job["state"] == "succeeded", job
    assert job["frames"] == 5 and job["progress"] == 1.0
    # 5 frames at 16 fps in a 24 fps scene: a 7-frame scene-rate copy, above the pose strip (channel 2, frame 10).
    strip = job["strip"]
    assert (strip["start"], strip["duration"], strip["channel"]) == (10, 7, 3)
    assert strip["prompt"] == "a person dances" and strip["seed"] == 7 and "7" in strip["name"]
    assert strip["file"].endswith(".24fps.mp4") and len(frames(strip["file"])) == 7

    # The job list's line while the job ran: phase, step of total, seconds left.
    assert re.fullmatch(r"denoise \d+/200, \d+ s left", result["running_line"]), result["running_line"]
    assert 0.05 <= result["running_progress"] < 0.95
    assert result["cancel"]["state"] == "cancelled" and result["removed"]
    assert result["uploading_line"] == "uploading to the server"
    cancelled = result["cancel_while_uploading"]
    assert cancelled["state"] == "cancelled" and result["cancelled_remote_id"], cancelled
    assert result["removed_while_uploading"] == {"listed": False, "left_on_server": 0}
    refused = result["refused"]
    assert refused["state"] == "failed" and "token" in refused["error"].lower(), refused  # the server's own message
    assert "online access" in result["offline"].lower() and "online access" in result["install"].lower()

    local = result["in_process"]
    assert result["timer_after_load"] and local["state"] == "succeeded", local
    assert (local["strip"]["start"], local["strip"]["duration"], local["strip"]["channel"]) == (10, 7, 3)
    assert result["loaded"] == [True, False]  # Release Model frees the idle in-process model
    failed = result["failed"]
    assert failed["state"] == "failed" and "checkpoint" in failed["error"].lower(), failed
    assert re.fullmatch(r"shot_Scene_gen_7_[\d-]+_[0-9a-f]{4}_reference\.png", result["reference_copy"])
    assert (out / result["reference_copy"]).is_file()

    # The same seed gives the same frames on the server, in Blender and with `scail generate`. Equal, not
    # close, on any machine: the three run the same job through the same ScailPipeline code on this machine,
    # each at one torch thread (OMP_NUM_THREADS=1 in every child), so the same kernels see the same shapes
    # and x264 gets the same frames. A different thread count in one of them would round differently and
    # x264 would amplify it (tests/engine/test_parallel.py bounds that case instead).
    cli = tmp_path / "cli.mp4"
    subprocess.run([sys.executable, "-m", "scail_blender.cli", "generate", "--checkpoint", str(tiny["checkpoint"]),
                    "--ref", str(tiny["ref"]), "--pose", str(tiny["pose"]), "--prompt", "a person dances",
                    "--seed", "7", "--steps", str(STEPS), "--size", "64x64", "--device", "cpu", "--out", str(cli)],
                   cwd=ROOT, env=child_env(), check=True, capture_output=True, timeout=240)
    server_frames, local_frames, cli_frames = frames(job["result"]), frames(local["result"]), frames(cli)
    assert server_frames.shape == (5, 64, 64, 3)
    assert np.array_equal(server_frames, local_frames) and np.array_equal(server_frames, cli_frames)


def test_install_command_targets_the_user_folder_only(tmp_path: Path) -> None:
    command = pip_command("/blender/python", tmp_path / "site", tmp_path / "constraints.txt")
    assert command[:4] == ["/blender/python", "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == str(tmp_path / "site")
    assert command[command.index("--constraint") + 1] == str(tmp_path / "constraints.txt")
    assert "--user" not in command and "--no-input" in command
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert list(ENGINE_PACKAGES) == extras["engine"]
    assert tuple(command[-len(ENGINE_PACKAGES):]) == ENGINE_PACKAGES


def test_start_local_server_health_checks_and_stops_with_the_addon(tiny: dict[str, Path],
                                                                   blender_user_dir: dict[str, str]) -> None:
    from tests.server.conftest import free_port

    port = free_port()
    result = run_script(SCRIPTS / "start_server.py", {"checkpoint": str(tiny["checkpoint"]), "port": port},
                        env={**blender_user_dir, "OMP_NUM_THREADS": "1"}, timeout=180)
    assert result["state"] == "ok", result
    assert result["message"] == f"serving at http://127.0.0.1:{port}" and result["health"] == 200
    assert result["command"][1:4] == ["-m", "scail_blender.cli", "serve"] and "127.0.0.1" in result["command"]
    assert not result["again"]  # one local server at a time
    assert not result["running_after_disable"]


def test_demo_generates_into_the_saved_blend(tiny: dict[str, Path], tmp_path: Path,
                                             blender_user_dir: dict[str, str]) -> None:
    """`make demo` with a checkpoint: the pose strip and, above it, the animation, saved in the .blend."""
    env = {**child_env(), **blender_user_dir, "SCAIL_CHECKPOINT": str(tiny["checkpoint"])}
    proc = subprocess.run([sys.executable, "tools/demo.py", "--out", str(tmp_path), "--frames", "9", "--steps", "2",
                           "--gen-size", "224x128"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "animation:" in proc.stdout
    found = run_script(SCRIPTS / "blend_strips.py", {"blend": str(tmp_path / "scail_demo.blend")}, env=blender_user_dir)
    # 9 pose frames at 16 fps in the 24 fps scene: 13 scene frames for both strips.
    assert found == [["SCAIL 0: a person dances", 2, 1, 13, 0], ["SCAIL Pose", 1, 1, 13, None]]


def test_generation_and_extraction_share_one_runner_on_the_board(tiny: dict[str, Path], tmp_path: Path,
                                                                  blender_user_dir: dict[str, str]) -> None:
    """In Blender's process a generation and an extraction pressed together are two rows of one
    board on one runner: the extraction waits for the generation (one network on the device at a
    time), each shows progress, and a queued one can be cancelled before it starts."""
    env = {**blender_user_dir, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = run_script(SCRIPTS / "board_one_runner.py", {"checkpoint": str(tiny["checkpoint"]), "ref": str(tiny["ref"]),
                                                          "pose": str(tiny["pose"]), "folder": str(tmp_path)},
                        env=env, timeout=300)
    rows = result["rows"]
    generation, extraction, waiting = rows["generation"], rows["extraction"], rows["waiting"]
    assert result["one_backend"] and result["running_together"] == 1, result
    assert generation["state"] == extraction["state"] == "succeeded", rows
    # pressed second, run second: after the generation, not beside it
    assert extraction["started"] >= generation["finished"], rows
    assert {"queued", "running", "succeeded"} <= set(extraction["seen"]) and "running" in generation["seen"]
    assert generation["progress"] == extraction["progress"] == 1.0
    assert generation["line"].startswith("in the Sequencer") and extraction["line"].startswith("imported 2 armature(s)")
    assert waiting["state"] == "cancelled" and waiting["started"] is None and "running" not in waiting["seen"]
    assert len(result["armatures"]) == 2 and result["strips"] >= 1
