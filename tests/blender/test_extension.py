"""The built extension zip installs into the bpy module, enables/disables cleanly, and writes
an mp4 with the ffmpeg of the wheel it bundles (not the one of this venv)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, run_python

HERE = {("linux", "x86_64"): "linux-x64", ("win32", "AMD64"): "windows-x64",
        ("darwin", "arm64"): "macos-arm64", ("darwin", "x86_64"): "macos-x64"}[(sys.platform, platform.machine())]


def build_zip(out: Path) -> Path:
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_extension.py"), "--out", str(out), "--platform", HERE],
                   check=True, capture_output=True, text=True)
    zips = list(out.glob("scail_blender-*.zip"))
    assert len(zips) == 1, zips
    return zips[0]


def test_manifest_validates_and_zip_installs(tmp_path: Path, blender_user_dir: dict[str, str]) -> None:
    zip_path = build_zip(tmp_path / "dist")
    proc = run_python(
        f"""
        import importlib.abc, importlib.machinery, sys, bpy, addon_utils
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

        # Only the wheel the extension brought may provide imageio_ffmpeg and PIL from here on.
        site = bpy.utils.user_resource("EXTENSIONS", path=".local/lib/python3.11/site-packages")
        class BundledOnly(importlib.abc.MetaPathFinder):
            def find_spec(self, fullname, path=None, target=None):
                if fullname in ("imageio_ffmpeg", "PIL"):
                    spec = importlib.machinery.PathFinder.find_spec(fullname, [site])
                    if spec is None:
                        raise ImportError(fullname + " is not bundled with the extension")
                    return spec
                return None
        sys.meta_path.insert(0, BundledOnly())
        for module in [m for m in sys.modules if m.split(".")[0] in ("imageio_ffmpeg", "PIL")]:
            del sys.modules[module]
        import numpy as np
        import importlib
        video = importlib.import_module(name + ".pose.video")
        out = {str(tmp_path / "bundled.mp4")!r}
        frames = [np.full((32, 48, 3), 40 * k, np.uint8) for k in range(5)]
        video.write_video(frames, out, 16, frames_dir={str(tmp_path / "frames")!r})
        info = video.probe_video(out)
        assert (info.frames, info.width, info.height) == (5, 48, 32), info
        import imageio_ffmpeg
        assert imageio_ffmpeg.__file__.startswith(site), imageio_ffmpeg.__file__
        print("ok")
        """,
        env=blender_user_dir,
    )
    assert proc.stdout.strip().endswith("ok")
    assert len(list((tmp_path / "frames").glob("*.png"))) == 5
