"""Build the installable extension zip(s).

Blender wants ``blender_manifest.toml`` next to the add-on's ``__init__.py`` at the root of
the zip, while this repository keeps the manifest at the top and the code in ``scail_blender/``
(so the package stays importable as a plain library). This script stages both side by side and
runs Blender's own builder (shipped inside the bpy wheel) on the staged folder.

Blender ships numpy but neither ffmpeg as a program nor Pillow, which the pose video writer
needs; so the unmodified PyPI wheels of imageio-ffmpeg (it carries an ffmpeg binary) and
Pillow are bundled, one set per platform, and Blender's builder writes one zip per platform.
Downloaded wheels are kept in build/wheels/PLATFORM so later builds need no network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / "build" / "wheels"
# Pinned like pyproject.toml; Blender 4.2-5.0 all embed CPython 3.11.
BUNDLED = ("imageio-ffmpeg==0.8.1", "pillow==13.0.0")
PYTHON_VERSION = "3.11"
# Blender platform name -> the pip platform tag whose wheels fit it.
PLATFORMS = {
    "linux-x64": "manylinux_2_28_x86_64",
    "windows-x64": "win_amd64",
    "macos-arm64": "macosx_12_0_arm64",
    "macos-x64": "macosx_10_13_x86_64",
}


def blender_ext_script() -> Path:
    """Locate Blender's extension CLI inside the installed bpy module."""
    import bpy  # the only reason this tool needs the bpy wheel

    script = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    if not script.is_file():
        raise SystemExit(f"Blender's extension builder was not found at {script}")
    return script


def download_wheels(platform: str) -> list[Path]:
    """The bundled wheels for one platform, downloaded with pip on first use."""
    folder = WHEELS / platform
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) == len(BUNDLED):
        return wheels
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps",
           "--python-version", PYTHON_VERSION, "--platform", PLATFORMS[platform], "--dest", str(folder), *BUNDLED]
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit(f"Could not download the {platform} wheels of {', '.join(BUNDLED)} (needs PyPI access once)")
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != len(BUNDLED):
        raise SystemExit(f"Expected {len(BUNDLED)} wheels in {folder}, found {[w.name for w in wheels]}")
    return wheels


def manifest_with_wheels(text: str, platforms: list[str], wheels: list[Path]) -> str:
    """The manifest with ``platforms`` and ``wheels`` added before its first table."""
    lines = text.splitlines()
    first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
    added = [
        "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]",
        "wheels = [",
        *(f'  "./wheels/{w.name}",' for w in wheels),
        "]",
        "",
    ]
    return "\n".join(lines[:first_table] + added + lines[first_table:]) + "\n"


def stage(staging: Path, platforms: list[str]) -> None:
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(
        ROOT / "scail_blender",
        staging,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    wheels = [w for p in platforms for w in download_wheels(p)]
    (staging / "wheels").mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, staging / "wheels" / wheel.name)
    manifest = (ROOT / "blender_manifest.toml").read_text()
    (staging / "blender_manifest.toml").write_text(manifest_with_wheels(manifest, platforms, wheels))


def run_builder(args: list[str]) -> None:
    cmd = [sys.executable, str(blender_ext_script()), *args]
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="dist", help="folder for the built zips (default: dist)")
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="build only for this platform (repeatable; default: all four)")
    args = parser.parse_args(argv)
    platforms = args.platform or list(PLATFORMS)
    staging = ROOT / "build" / "extension"
    stage(staging, platforms)
    run_builder(["validate", str(staging)])
    out = Path(args.out).resolve()
    os.makedirs(out, exist_ok=True)
    run_builder(["build", "--source-dir", str(staging), "--output-dir", str(out), "--split-platforms"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
