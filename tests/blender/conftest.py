"""Blender tests: each runs the bpy module in a child interpreter with its own user folder.

The pytest process never imports bpy (importing it writes Blender's user folder and puts its
scripts on sys.path for every later test), so whether bpy is installed is asked of the finder.
The child is this venv's Python (bpy 5.0.1) unless SCAIL_BPY_PYTHON names another; `make test`
runs the tests marked ``oldest_blender`` a second time with the oldest supported bpy that way.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from tests.support import BPY_PYTHON_ENV, bpy_python

HAS_BPY = importlib.util.find_spec("bpy") is not None
CHOSEN = os.environ.get(BPY_PYTHON_ENV)


def pytest_configure(config: pytest.Config) -> None:
    if CHOSEN and not os.access(CHOSEN, os.X_OK):
        raise pytest.UsageError(f"{BPY_PYTHON_ENV}={CHOSEN} is not an executable Python: give a venv's "
                                "bin/python with the bpy module (make test builds .venv-bpy4.2)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which Blender the scripts ran on, in the summary (-q too): two passes look alike otherwise."""
    ask = "import importlib.metadata as m; print(m.version('bpy'))"
    found = subprocess.run([bpy_python(), "-c", ask], capture_output=True, text=True, timeout=60)
    version = found.stdout.strip() if found.returncode == 0 else "not installed"
    terminalreporter.write_line(f"Blender scripts ran in {bpy_python()} (bpy {version})")


@pytest.fixture(autouse=True)
def needs_bpy() -> None:
    if not CHOSEN and not HAS_BPY:
        pytest.skip("the bpy module is not installed (pip install -e '.[blender]')")


@pytest.fixture
def blender_user_dir(tmp_path: Path) -> dict[str, str]:
    """Environment that points Blender's user resources (extensions, config) at a temp folder."""
    user = tmp_path / "blender_user"
    user.mkdir()
    return {"BLENDER_USER_RESOURCES": str(user)}
