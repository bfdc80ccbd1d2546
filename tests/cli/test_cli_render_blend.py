"""``scail render-pose --blend``: the panel's render from the command line, reproducible with
``--joints-out`` + ``--motion``, and clear errors (exit 2) for bad scenes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scail_blender.motion.model import load_motion_npz
from scail_blender.media import video

from tests.support import ROOT, run_script


@pytest.fixture(scope="module")
def blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("blend") / "duo.blend"
    run_script(ROOT / "tests" / "blender" / "scripts" / "duo_blend.py", {"blend": str(path)})
    return path


def scail(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_blend_render_matches_its_joints_rendered_as_motion(blend: Path, tmp_path: Path) -> None:
    proc = scail("--blend", str(blend), "--character", "Hero", "--frame-range", "4:10", "--size", "256x448",
                 "--out", str(tmp_path / "rig.mp4"), "--frames-dir", str(tmp_path / "rig"),
                 "--joints-out", str(tmp_path / "rig.npz"))
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    motion = load_motion_npz(tmp_path / "rig.npz")
    # 7 scene frames at 24 fps sampled at 16 fps: 4, 5.5, 7, 8.5, 10.
    assert motion.joints.shape == (5, 1, 24, 3) and motion.person_ids == ["Hero"]
    assert video.probe_video(tmp_path / "rig.mp4").frames == 5
    proc = scail("--motion", str(tmp_path / "rig.npz"), "--out", str(tmp_path / "again.mp4"),
                 "--frames-dir", str(tmp_path / "again"))
    assert proc.returncode == 0, proc.stderr
    rig, again = list(video.read_video(tmp_path / "rig")), list(video.read_video(tmp_path / "again"))
    assert len(rig) == len(again) == 5
    assert all(frame.any() for frame in rig)
    assert all(np.array_equal(a, b) for a, b in zip(rig, again))


def test_every_mapping_armature_renders_when_none_is_named(blend: Path, tmp_path: Path) -> None:
    proc = scail("--blend", str(blend), "--frame-range", "1:1", "--size", "256x448",
                 "--out", str(tmp_path / "all.mp4"), "--joints-out", str(tmp_path / "all.npz"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(load_motion_npz(tmp_path / "all.npz").person_ids) == ["Extra", "Hero"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--character", "Nobody"], "No armature named 'Nobody'"),
        (["--camera", "Hero"], "No camera named 'Hero'"),
        (["--size", "500x896"], "multiples of 32"),
        (["--frame-range", "9:3"], "ends before it starts"),
        (["--intrinsics", "500,500,224,128"], "--motion only"),
    ],
)
def test_bad_blend_arguments_exit_2_with_the_fix(blend: Path, tmp_path: Path, args: list[str], expected: str) -> None:
    proc = scail("--blend", str(blend), "--out", str(tmp_path / "x.mp4"), *args)
    assert proc.returncode == 2, proc.stderr
    assert "scail: error:" in proc.stderr and expected in proc.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_blend_flags_are_refused_with_motion(tmp_path: Path) -> None:
    proc = scail("--motion", str(tmp_path / "m.npz"), "--out", str(tmp_path / "x.mp4"), "--camera", "Cam")
    assert proc.returncode == 2 and "--camera applies to --blend only" in proc.stderr
