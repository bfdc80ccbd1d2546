"""blender/compat.py against the real bpy module: run on 5.0.1 and, by `make test`, on 4.2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"
pytestmark = pytest.mark.oldest_blender


def test_fcurves_groups_and_strips_through_compat() -> None:
    found = run_script(SCRIPTS / "compat_api.py")
    assert found["unanimated"] == [] and found["same"], found
    assert found["curves"] == [["hide_render", 0, None], ["location", 0, "Move"], ["location", 1, "Move"]], found
    assert found["groups"] == ["Move"] and found["one_group"] and found["hidden_group"] is None, found
    assert found["x"] == 2.5, "the curve drives the property it was made for"
    assert found["strips"] == 0
