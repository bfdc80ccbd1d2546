"""Blender tests: each runs the bpy module in a child interpreter with its own user folder.

The pytest process never imports bpy (importing it writes Blender's user folder and puts its
scripts on sys.path for every later test), so whether bpy is installed is asked of the finder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HAS_BPY = importlib.util.find_spec("bpy") is not None


@pytest.fixture(autouse=True)
def needs_bpy() -> None:
    if not HAS_BPY:
        pytest.skip("the bpy module is not installed (pip install -e '.[blender]')")


@pytest.fixture
def blender_user_dir(tmp_path: Path) -> dict[str, str]:
    """Environment that points Blender's user resources (extensions, config) at a temp folder."""
    user = tmp_path / "blender_user"
    user.mkdir()
    return {"BLENDER_USER_RESOURCES": str(user)}
