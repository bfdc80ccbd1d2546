"""Issue 9 in Blender: honest imports and renders, the output policy for Export Motion, no
preferences that do nothing, sizes as height x width (tests/blender/scripts/outputs_and_imports.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_script

SCRIPT = Path(__file__).parent / "scripts" / "outputs_and_imports.py"
# Touches APIs that moved between Blender 4.2 and 5.0 (blender/compat.py): `make test` runs it on both.
pytestmark = pytest.mark.oldest_blender


def test_failed_imports_exports_and_blind_cameras_change_nothing(tmp_path: Path) -> None:
    found = run_script(SCRIPT, str(tmp_path))
    assert "no person in any frame" in found["nobody"] and found["nobody_unchanged"]
    assert "frame 2 person 0: 1e+30 mm" in found["huge"] and found["huge_unchanged"]
    assert "on purpose" in found["broken"] and found["broken_unchanged"], "armatures made before the failure are gone"
    assert found["good"] == "{'FINISHED'}"
    assert "not writable" in found["export_unwritable"]
    assert "is a folder, which is never replaced" in found["export_folder"]
    assert "behind the camera" in found["away"] and found["away_files"] == []
    # Every preference drawn is used: the backend ones by Generate (Server shown: URL, token, local server).
    assert found["preferences"] == ["output_policy", "output_folder", "smpl_dir", "pose_weights_dir", "backend",
                                    "models_dir", "checkpoint_dir", "server_url", "server_token", "python_path",
                                    "scail.start_server"]
    assert found["presets"][:4] == ["From Camera", "512 high x 896 wide (landscape)", "896 high x 512 wide (portrait)",
                                    "704 high x 1280 wide (landscape)"]
