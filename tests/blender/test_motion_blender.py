"""Import / Export Motion in the real bpy module (each test runs a script of ``scripts/`` in a
fresh Blender process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scail_blender.pose.skeleton import SMPL_JOINT_NAMES

from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"
# Touches APIs that moved between Blender 4.2 and 5.0 (blender/compat.py): `make test` runs it on both.
pytestmark = pytest.mark.oldest_blender


def test_glb_import_renders_the_same_joint_projections(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "import_glb.py", {"glb": str(tmp_path / "m.glb")})
    assert result["result"] == ["FINISHED"]
    assert result["armatures"] == ["dancer_0", "dancer_1"], result["armatures"]
    assert result["bones"] == sorted(SMPL_JOINT_NAMES)
    assert result["camera"] == "m camera"  # named after the file, not after the motion's source note
    # Every bone's curves sit in the bone's channel group (the Graph Editor folds them by bone); visibility in none.
    assert result["groups"] == sorted([[n, n] for n in SMPL_JOINT_NAMES] + [["hide_render", None], ["hide_viewport", None]])
    got_size, want_size = result["image_size"]
    assert got_size == want_size, got_size
    print("import projection error", {"max_px": result["max_px"], "max_mm": result["max_mm"]})
    assert result["max_px"] < 0.5, result


def test_failed_import_leaves_the_scene_unchanged(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "import_damaged.py", {"glb": str(tmp_path / "bad.glb")})
    assert result["error"] is not None, "a damaged file imported"
    assert "truncated" in result["error"], result["error"]
    assert result["before"] == result["after"], result


def test_export_selected_armatures_round_trips_through_glb_and_npz(tmp_path: Path) -> None:
    exported = run_script(SCRIPTS / "export_roundtrip.py", {"folder": str(tmp_path)})
    assert sorted(exported) == ["out.glb", "out.npz"]
    for name, back in exported.items():
        assert back["result"] == ["FINISHED"], name
        assert back["frames"] == 6 and back["px"] < 0.5, (name, back)


def test_export_uses_the_smpl_model_of_the_preferences(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "export_smpl.py", {"folder": str(tmp_path)})
    assert result["result"] == ["FINISHED"]
    assert result["counts"] == [60], result["counts"]
