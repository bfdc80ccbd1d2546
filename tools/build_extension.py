"""Build the installable extension zip.

Blender wants ``blender_manifest.toml`` next to the add-on's ``__init__.py`` at the root of
the zip, while this repository keeps the manifest at the top and the code in ``scail_blender/``
(so the package stays importable as a plain library). This script stages both side by side and
runs Blender's own builder (shipped inside the bpy wheel) on the staged folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def blender_ext_script() -> Path:
    """Locate Blender's extension CLI inside the installed bpy module."""
    import bpy  # the only reason this tool needs the bpy wheel

    script = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    if not script.is_file():
        raise SystemExit(f"Blender's extension builder was not found at {script}")
    return script


def stage(staging: Path) -> None:
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(
        ROOT / "scail_blender",
        staging,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    shutil.copy2(ROOT / "blender_manifest.toml", staging / "blender_manifest.toml")
    wheels = ROOT / "build" / "wheels"
    if wheels.is_dir():
        shutil.copytree(wheels, staging / "wheels")


def run_builder(args: list[str]) -> None:
    cmd = [sys.executable, str(blender_ext_script()), *args]
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="dist", help="folder for the built zip (default: dist)")
    args = parser.parse_args(argv)
    staging = ROOT / "build" / "extension"
    stage(staging)
    run_builder(["validate", str(staging)])
    out = Path(args.out).resolve()
    os.makedirs(out, exist_ok=True)
    run_builder(["build", "--source-dir", str(staging), "--output-dir", str(out)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
