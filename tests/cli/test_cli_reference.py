"""``scail render-pose --blend ... --reference-out --reference-mask-out``: the SCAIL-2 reference and
its extra views beside the pose video and driving mask, in the same colours; refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scail_blender.media import video
from scail_blender.pose.identity import PALETTE, WHITE
from scail_blender.pose.reference_mask import people_in_frames, people_in_mask

from tests.support import ROOT, run_script


@pytest.fixture(scope="module")
def blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("blend") / "bodies.blend"
    run_script(ROOT / "tests" / "blender" / "scripts" / "reference_render.py",
               {"folder": "", "engine": "WORKBENCH", "mode": "animation", "people": 2, "views": [], "size": [64, 64],
                "save": str(path)})
    return path


def scail(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def centre_x(mask: np.ndarray, colour: tuple[int, int, int]) -> float:
    return float(np.nonzero((mask == colour).all(-1))[1].mean())


def test_reference_and_views_match_the_driving_mask(blend: Path, tmp_path: Path) -> None:
    out = {name: str(tmp_path / name) for name in ("pose.mp4", "mask.mp4", "ref.png", "ref_mask.png")}
    proc = scail("--blend", str(blend), "--frame-range", "1:5", "--size", "64x96", "--out", out["pose.mp4"],
                 "--mask-out", out["mask.mp4"], "--reference-out", out["ref.png"], "--reference-mask-out",
                 out["ref_mask.png"], "--reference-engine", "workbench", "--extra-view", "back")
    assert proc.returncode == 0, proc.stderr
    assert "Hero blue, Extra red" in proc.stderr
    assert f"wrote {tmp_path / 'ref_back.png'} and {tmp_path / 'ref_back_mask.png'}" in proc.stdout
    reference = np.array(Image.open(out["ref_mask.png"]).convert("RGB"))
    first = next(iter(video.read_video(out["mask.mp4"])))
    assert reference.shape == first.shape == (64, 96, 3)
    assert people_in_mask(reference) == people_in_frames(video.read_video(out["mask.mp4"])) == {0, 1}
    assert reference[0, 0].tolist() == list(WHITE)  # animation mode: the reference mask is on white
    for mask in (reference, first):  # blue is the left one in the driving mask and in the reference
        assert centre_x(mask, PALETTE[0]) < centre_x(mask, PALETTE[1])
    back = np.array(Image.open(tmp_path / "ref_back_mask.png").convert("RGB"))
    assert people_in_mask(back) == {0, 1} and centre_x(back, PALETTE[0]) > centre_x(back, PALETTE[1])


def test_reference_flags_are_checked_and_a_failed_reference_leaves_nothing(blend: Path, tmp_path: Path) -> None:
    proc = scail("--blend", str(blend), "--out", str(tmp_path / "p.mp4"), "--reference-out", str(tmp_path / "r.png"))
    assert proc.returncode == 2 and "--reference-out and --reference-mask-out go together" in proc.stderr
    proc = scail("--blend", str(blend), "--out", str(tmp_path / "p.mp4"), "--extra-view", "side")
    assert proc.returncode == 2 and "give --reference-out" in proc.stderr
    proc = scail("--blend", str(blend), "--frame-range", "1:2", "--size", "64x96", "--out", str(tmp_path / "p.mp4"),
                 "--mask-out", str(tmp_path / "m.mp4"), "--reference-out", str(tmp_path / "r.png"),
                 "--reference-mask-out", str(tmp_path / "rm.png"), "--reference-camera", "Nope")
    assert proc.returncode == 2 and "No camera named 'Nope'" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("framing", ["sensor", "crop"])
def test_the_reference_is_framed_as_the_first_driving_frame(blend: Path, tmp_path: Path, framing: str) -> None:
    """A square pose size from a 16:9 camera: Blender's sensor fit or cover-and-crop, the reference
    shows each character where the first driving frame has it."""
    proc = scail("--blend", str(blend), "--frame-range", "1:2", "--size", "64x64", "--framing", framing,
                 "--out", str(tmp_path / "pose.mp4"), "--mask-out", str(tmp_path / "mask.mp4"),
                 "--reference-out", str(tmp_path / "ref.png"), "--reference-mask-out", str(tmp_path / "ref_mask.png"),
                 "--reference-engine", "workbench")
    assert proc.returncode == 0, proc.stderr
    reference = np.array(Image.open(tmp_path / "ref_mask.png").convert("RGB"))
    first = next(iter(video.read_video(tmp_path / "mask.mp4")))
    for colour in (PALETTE[0], PALETTE[1]):
        assert abs(centre_x(reference, colour) - centre_x(first, colour)) < 3
