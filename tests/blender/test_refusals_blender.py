"""What Blender users are told when an input is wrong (issue 19 item 3): at the button, in
Blender's terms, and only what applies; the command line keeps its own flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"
# Touches APIs that moved between Blender 4.2 and 5.0 (blender/compat.py): `make test` runs it on both.
pytestmark = pytest.mark.oldest_blender


def test_refusals_say_what_to_do_in_blender(tmp_path: Path) -> None:
    found = run_script(SCRIPTS / "blender_refusals.py", {"folder": str(tmp_path)})

    # A reference image moved after it was picked: a report that says so, no traceback, no job.
    moved = found["moved_reference"]
    assert moved and "no longer exists" in moved and str(tmp_path / "reference.png") in moved, moved
    assert "Traceback" not in moved and found["moved_reference_jobs"] == 0

    # A checkpoint folder that does not exist is refused at the button, for Generate and Start Local Server.
    for key in ("missing_checkpoint", "start_server"):
        assert found[key] and "does not exist" in found[key] and "Checkpoint Folder" in found[key], found[key]
    assert found["missing_checkpoint_jobs"] == 0 and not found["server_started"]

    # The mapping report asks to set joints by hand only when some are missing.
    generic, one_arm = found["reports"]["Generic"], found["reports"]["OneArm"]
    assert generic["mapped"] and "by hand" not in generic["report"], generic
    assert not one_arm["mapped"] and "Set left_elbow, left_wrist by hand" in one_arm["report"], one_arm

    # No armature would render: Blender's report names the panel; the command line names its flags.
    in_blender, cli = found["render_in_blender"], found["render_on_command_line"]
    assert "would render" in in_blender and "--" not in in_blender, in_blender
    assert "press + under Characters" in in_blender and "Manual bone choices" in in_blender, in_blender
    assert "would render" in cli and "--character" in cli and "--bonemap" in cli, cli
