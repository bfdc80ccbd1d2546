"""The built extension zip installs into the bpy module and enables/disables cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, run_python


def build_zip(out: Path) -> Path:
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_extension.py"), "--out", str(out)],
                   check=True, capture_output=True, text=True)
    zips = list(out.glob("scail_blender-*.zip"))
    assert len(zips) == 1, zips
    return zips[0]


def test_manifest_validates_and_zip_installs(tmp_path: Path, blender_user_dir: dict[str, str]) -> None:
    zip_path = build_zip(tmp_path / "dist")
    proc = run_python(
        f"""
        import sys, bpy, addon_utils
        result = bpy.ops.extensions.package_install_files(
            filepath={str(zip_path)!r}, repo="user_default", enable_on_install=True)
        assert result == {{'FINISHED'}}, result
        name = "bl_ext.user_default.scail_blender"
        assert addon_utils.check(name)[1], "not enabled after install"
        assert "torch" not in sys.modules, "enabling the add-on imported torch"
        addon_utils.disable(name)
        assert not addon_utils.check(name)[1], "still enabled after disable"
        addon_utils.enable(name)
        assert addon_utils.check(name)[1]
        print("ok")
        """,
        env=blender_user_dir,
    )
    assert proc.stdout.strip().endswith("ok")
