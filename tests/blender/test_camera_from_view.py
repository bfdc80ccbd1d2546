"""Camera from View: the camera sees what the viewport sees (checked by projecting points with
Blender's own world_to_camera_view in ``scripts/camera_from_view.py``), and an orthographic
view is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.mark.parametrize(
    ("view", "size", "fitted"),
    [((1600, 900), (512, 896), "top"),    # a slightly narrower frame fits the viewport's height
     ((1600, 900), (896, 512), "top"),    # portrait output in a landscape viewport
     ((700, 1200), (512, 896), "right")],  # landscape output in a tall viewport fits its width
)
def test_camera_matches_viewport(view: tuple[int, int], size: tuple[int, int], fitted: str) -> None:
    out = run_script(SCRIPTS / "camera_from_view.py", {"view": view, "size": size})
    assert out["created"] == "SCAIL Camera"
    assert out["res"] == [size[1], size[0]]
    assert out["centre"] == pytest.approx([0.5, 0.5], abs=1e-5)
    # the matched side's viewport edge is exactly the camera frame's edge; the other lies outside
    if fitted == "top":
        assert out["top"][1] == pytest.approx(1.0, abs=1e-4)
        assert out["right"][0] >= 1.0 - 1e-4
    else:
        assert out["right"][0] == pytest.approx(1.0, abs=1e-4)
        assert out["top"][1] >= 1.0 - 1e-4
    assert "Numpad 5" in out["ortho"]
