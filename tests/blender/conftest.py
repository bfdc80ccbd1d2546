"""Blender tests: each runs the bpy module in a child interpreter with its own user folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def blender_user_dir(tmp_path: Path) -> dict[str, str]:
    """Environment that points Blender's user resources (extensions, config) at a temp folder."""
    user = tmp_path / "blender_user"
    user.mkdir()
    return {"BLENDER_USER_RESOURCES": str(user)}
