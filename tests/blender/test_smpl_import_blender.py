"""File > Import of SMPL parameter files in the real bpy module: the rig carries the generating
joint rotations (not only positions), its joints land on the motion's, and it stays editable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"
# Touches APIs that moved between Blender 4.2 and 5.0 (blender/compat.py): `make test` runs it on both.
pytestmark = pytest.mark.oldest_blender


@pytest.mark.parametrize(("with_model", "fps"), [(True, 16), (False, 32)])
def test_amass_npz_imports_as_a_rig_with_smpl_rotations(tmp_path: Path, with_model: bool, fps: int) -> None:
    result = run_script(SCRIPTS / "import_smpl_params.py", {"folder": str(tmp_path), "with_model": with_model,
                                                            "fps": fps})
    assert result["result"] == ["FINISHED"]
    print("smpl import", result)
    assert result["position_mm"] < 1.0, result
    assert result["rotation_deg"] < 0.01, result
    assert result["located"] == ["pelvis"], "only the pelvis moves by location; every other joint rotates"
    assert result["knee_moved_mm"] > 10 and result["hip_moved_mm"] < 1e-3, result
