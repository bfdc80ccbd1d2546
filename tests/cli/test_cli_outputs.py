"""The output policy through the real ``scail`` command: the user's files survive byte for byte,
and Ctrl-C or SIGTERM in the middle of a render leaves no temporary file, video or folder."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scail_blender.cli import main
from scail_blender.motion.model import save_motion_npz
from scail_blender.media import video

from tests.support import ROOT, run_script
from tests.support.motion_fixtures import walking

DANCER_BLEND = ROOT / "tests" / "blender" / "scripts" / "dancer_blend.py"


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) and a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def motion_file(tmp_path: Path) -> Path:
    path = tmp_path / "walk.npz"
    save_motion_npz(walking(frames=6), path)
    return path


def test_a_folder_of_the_users_frames_survives_byte_for_byte(tmp_path: Path, motion_file: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    frames = tmp_path / "my_frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for index in range(20):  # the user's own numbered PNGs, more than the clip has
        (frames / f"{index:05d}.png").write_bytes(rng.bytes(300))
    (frames / "notes.txt").write_text("my notes")
    before = digest(frames)
    args = ["render-pose", "--motion", str(motion_file), "--out", str(tmp_path / "pose.mp4"),
            "--frames-dir", str(frames), "--size", "128x224"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already holds 20 numbered frames" in err and "--overwrite" in err
    assert digest(frames) == before and not (tmp_path / "pose.mp4").exists()

    assert main([*args, "--overwrite"]) == 0
    after = digest(frames)
    replaced = {f"{i:05d}.png" for i in range(6)}
    assert {name for name in after if after[name] != before.get(name)} == replaced
    assert {name: after[name] for name in before if name not in replaced} == \
        {name: before[name] for name in before if name not in replaced}
    assert "14 older numbered frames" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--out", "--joints-out"])
def test_an_output_onto_the_input_is_refused_and_the_input_kept(tmp_path: Path, motion_file: Path, flag: str,
                                                                capsys: pytest.CaptureFixture) -> None:
    before = motion_file.read_bytes()
    args = {"--out": str(tmp_path / "pose.mp4"), flag: str(motion_file)}
    assert main(["render-pose", "--motion", str(motion_file), *[x for kv in args.items() for x in kv]]) == 2
    assert f"{flag} {motion_file} is also --motion, an input" in capsys.readouterr().err
    assert motion_file.read_bytes() == before and sorted(tmp_path.iterdir()) == [motion_file]


def test_out_equal_to_joints_out_and_folders_as_out_are_refused(tmp_path: Path, motion_file: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    same = tmp_path / "both.npz"
    assert main(["render-pose", "--motion", str(motion_file), "--out", str(same), "--joints-out", str(same)]) == 2
    assert "is also --out, another output" in capsys.readouterr().err
    folder = tmp_path / "out.mp4"
    folder.mkdir()
    (folder / "keep").write_text("mine")
    assert main(["render-pose", "--motion", str(motion_file), "--out", str(folder)]) == 2
    assert "is a folder, which is never replaced" in capsys.readouterr().err
    assert (folder / "keep").read_text() == "mine"
    assert main(["motion", "convert", str(motion_file), str(folder)]) == 2
    assert not list(tmp_path.glob(".*")), "no hidden partial file"


def hidden_temp(folder: Path) -> bool:
    return any(p.name.startswith(".") for p in folder.iterdir())


def interrupt_mid_render(args: list[str], folder: Path, signum: int) -> subprocess.CompletedProcess:
    """Start ``scail`` in a child process, wait until it writes its hidden temporary video, then
    send ``signum`` to it alone."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "scail_blender.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not hidden_temp(folder):
        assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.02)
    time.sleep(0.3)
    assert proc.poll() is None, "the render finished before the signal; make the clip longer"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_render_leaves_nothing(tmp_path: Path, signum: int, code: int) -> None:
    motion = tmp_path / "long.npz"
    save_motion_npz(walking(frames=1500), motion)
    out = tmp_path / "out"
    out.mkdir()
    before = digest(tmp_path)
    proc = interrupt_mid_render(["render-pose", "--motion", str(motion), "--out", str(out / "pose.mp4"),
                                 "--frames-dir", str(out / "frames"), "--joints-out", str(out / "j.npz"),
                                 "--size", "256x448"], out, signum)
    assert proc.returncode == code, proc.stderr
    assert "nothing was written" in proc.stderr and "Traceback" not in proc.stderr
    assert digest(tmp_path) == before and list(out.iterdir()) == [], "no temporary file, video or frames folder"


def test_ctrl_c_during_a_blend_render_leaves_nothing(tmp_path: Path) -> None:
    blend = tmp_path / "shot.blend"
    run_script(DANCER_BLEND, {"blend": str(blend), "fps": 16, "frames": 900})
    out = tmp_path / "out"
    out.mkdir()
    before = digest(tmp_path)
    proc = interrupt_mid_render(["render-pose", "--blend", str(blend), "--out", str(out / "pose.mp4"),
                                 "--frames-dir", str(out / "frames"), "--size", "256x448"], out, signal.SIGINT)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and "scripts disabled" not in proc.stdout
    assert digest(tmp_path) == before and list(out.iterdir()) == []


def test_blend_chatter_stays_off_stdout(tmp_path: Path) -> None:
    """Opening a Rigify scene prints "Read blend" and "scripts disabled ... rig_ui.py" from C;
    stdout keeps only the command's own line."""
    blend = tmp_path / "short.blend"
    run_script(DANCER_BLEND, {"blend": str(blend), "fps": 24, "frames": 3})
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", "--blend", str(blend),
                           "--out", str(tmp_path / "p.mp4"), "--size", "128x224"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"wrote {tmp_path / 'p.mp4'} (2 frames, 128 high x 224 wide, 16 fps)"]
    assert video.probe_video(tmp_path / "p.mp4").frames == 2
