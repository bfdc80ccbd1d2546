"""Installing the backend (torch and friends) for Blender's own Python, on the user's request.

pip runs in a child process with ``--target`` into a folder of the user's, never into Blender's
``site-packages``; the add-on appends that folder to ``sys.path`` after Blender's own folders,
so Blender's bundled numpy and requests always win, and pip is held to the bundled numpy's
version (a constraints file) so the packages it installs were built against the numpy that runs.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import ScailError

# The "engine" extra of pyproject.toml (a test keeps the two equal).
ENGINE_PACKAGES = ("torch==2.13.0", "safetensors>=0.4", "tokenizers==0.23.3", "ftfy==6.3.1", "gguf==0.19.0")
# Get Models' downloader, a core dependency of pyproject.toml that Blender does not bundle.
HUB_PACKAGE = "huggingface_hub>=0.26,<3"


class InstallError(ScailError):
    """pip failed; the message carries its last line."""

    code = "install"


def pip_command(python: str, target: Path, constraints: Path,
                packages: tuple[str, ...] = (HUB_PACKAGE, *ENGINE_PACKAGES)) -> list[str]:
    """The pip command line: into ``target`` only, no prompts, plain line-by-line output."""
    return [python, "-m", "pip", "install", "--target", str(target), "--upgrade", "--no-input",
            "--disable-pip-version-check", "--progress-bar", "off", "--constraint", str(constraints), *packages]


def write_constraints(path: Path, pins: dict[str, str]) -> Path:
    """A pip constraints file holding ``pins`` (name -> version), e.g. the bundled numpy's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    return path


def run_pip(command: list[str], on_line: Callable[[str], None]) -> None:
    """Run pip, passing each line of its output on as it comes; InstallError when it fails."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip():
            last = line.rstrip()
            on_line(last)
    if proc.wait() != 0:
        raise InstallError(f"pip failed ({proc.returncode}): {last}; see the console, or install the backend "
                           "into a Python of your own and use 'Start Local Server'")


def add_to_path(target: Path) -> None:
    """Make packages installed into ``target`` importable, after Blender's own."""
    if target.is_dir() and str(target) not in sys.path:
        sys.path.append(str(target))
        importlib.invalidate_caches()  # a folder pip filled while Blender ran
