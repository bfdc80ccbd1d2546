"""Rigs that are not five clean limb chains, read with Blender's own glTF importer (issue 19
point 5): Khronos' CesiumMan skeleton mapped 0 of 14 joints ("found 4 limb ends")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_script
from tests.support.rig_skeletons import CESIUM_MAN_JOINTS

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict:
    return run_script(SCRIPTS / "rig_gltf_import.py", {"dir": str(tmp_path_factory.mktemp("gltf"))})


def test_the_fixture_builds_the_bones_blenders_importer_makes(imported: dict) -> None:
    for name in ("cesium_man", "cesium_man_one_arm"):
        result = imported[name]
        assert not result["lost_bones"] and not result["extra_bones"] and result["head_error"] < 1e-5
    # Several root joints (the IK targets and knee poles): the nodes above them become bones.
    assert imported["twist_and_ik"]["extra_bones"] == ["Armature", "Z_UP"]


def test_cesium_man_imported_with_blenders_importer_maps_all_14_joints(imported: dict) -> None:
    result = imported["cesium_man"]
    assert result["ok"] and result["preset"] == "by structure (a guess)", result["summary"]
    assert result["body"] == {joint: [bone, "head"] for joint, bone in CESIUM_MAN_JOINTS.items()}
    assert set(CESIUM_MAN_JOINTS) <= set(result["guessed"])
    assert result["fix"] == "" and "by hand" not in result["summary"]


def test_cesium_man_without_an_arm_names_the_joints_to_set(imported: dict) -> None:
    result = imported["cesium_man_one_arm"]
    assert result["missing"] == ["left_shoulder", "left_elbow", "left_wrist"]
    assert result["body"] == {j: [b, "head"] for j, b in CESIUM_MAN_JOINTS.items() if j not in result["missing"]}
    assert "found no left arm" in result["summary"]
    assert result["fix"].startswith("Set left_shoulder, left_elbow, left_wrist by hand: in Characters > Manual bone choices")


def test_twist_and_ik_bones_in_a_gltf_do_not_move_the_joints(imported: dict) -> None:
    result = imported["twist_and_ik"]
    assert result["ok"], result["summary"]
    expected = {"left_hip": "LeftUpLeg", "right_knee": "RightLeg", "left_ankle": "LeftFoot", "neck": "Neck",
                "head": "Head", "left_shoulder": "LeftArm", "right_elbow": "RightForeArm", "left_wrist": "LeftHand"}
    assert {j: result["body"][j] for j in expected} == {j: [b, "head"] for j, b in expected.items()}
    assert "left out" in result["summary"] and "KneePole" in result["summary"]
