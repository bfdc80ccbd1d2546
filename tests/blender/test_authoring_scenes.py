"""Pose authoring on real scenes built with the bpy module (issue 10): each script builds one
scene and checks several things in it; see the scripts' docstrings."""

from __future__ import annotations

from pathlib import Path

from tests.support import ROOT, run_script

SCRIPTS = ROOT / "tests" / "blender" / "scripts"


def test_rigify_scene_characters_framing_and_refusals(tmp_path: Path) -> None:
    r = run_script(SCRIPTS / "rigify_scene.py", str(tmp_path))
    # Default characters: only the generated, skinned rig; every other armature with its reason.
    assert r["used"] == ["Hero"]
    assert r["skipped"] == {
        "metarig": "the Rigify metarig of 'Hero'",
        "HeroAnim": "an animation-only copy of 'Hero' (same action 'HeroAction', no mesh of its own)",
        "NoRender": "disabled in renders (its camera icon is off)",
        "Excluded": "its collection 'Props' is excluded from the view layer",
        "Hidden": "hidden in the view layer (itself or its collection)",
    }
    assert r["skipped_hidden_metarig"].startswith("hidden")
    # The metarig under generic names maps by structure onto the joints its names give.
    generic = r["generic_metarig"]
    assert generic["ok"] and generic["preset"] == "by structure (a guess)"
    assert generic["body"] < 1e-6 and generic["hands"] < 1e-6 and generic["face"] < 0.005, generic
    # Every sensor fit, shift, pixel aspect and pose size of another shape: Blender's own projection.
    assert r["max_px_error"] < 1e-3, r["worst"]
    # Bad input: clear messages, nothing written.
    assert "camera is inside 'Hero'" in r["refusals"]["camera inside"]
    assert "multiples of 32" in r["refusals"]["size"]
    assert "scaled to zero" in r["refusals"]["zero scale"]
    assert not r["bad_written"]
    # The command line: portrait camera gives 896x512 (H x W), the report names what it used and
    # skipped, the framing goes into --joints-out, the .blend is not touched.
    assert r["cli_rc"] == 0, r["cli_stderr"]
    assert r["cli_size"] == [896, 512] and r["cli_people"] == ["Hero"]
    assert "896 high x 512 wide" in r["cli_stdout"]
    assert "scail: characters (the armatures that would render): 'Hero'" in r["cli_stderr"]
    assert "scail: skipped 'HeroAnim': an animation-only copy" in r["cli_stderr"]
    assert "render size 896x512" in r["cli_source"]
    assert r["blend_unchanged"]


def test_imported_generic_rig_maps_by_structure_with_hands_and_face(tmp_path: Path) -> None:
    r = run_script(SCRIPTS / "imported_rigs.py", str(tmp_path))
    assert r["leaf_length_ratio"] > 50  # the importer really made the leaf bones long
    assert r["ok"] and r["preset"] == "by structure (a guess)" and r["required_mapped"] == 14, r["summary"]
    assert max(r["joint_errors"].values()) < 1e-4, r["joint_errors"]
    assert r["hands"] == {"left": 21, "right": 21}
    assert r["tip_over_segment"] < 1.51 and "fingertips of thumb, index, middle, ring, pinky capped" in r["summary"]
    # Face from the head mesh (an egg centred at (0, -0.02, 1.72), front at y = -0.12).
    face = r["face"]
    assert abs(face["nose"][0]) < 1e-3 and face["nose"][1] < -0.11 and abs(face["nose"][2] - 1.72) < 0.03
    assert face["left_eye"][0] > 0.02 and face["right_eye"][0] < -0.02 and face["left_eye"][2] > face["nose"][2]
    assert abs(abs(face["left_ear"][0]) - 0.075) < 0.005 and "face marks placed from the head mesh" in r["summary"]
    bvh = r["bvh"]
    assert bvh["ok"] and bvh["preset"] == "CMU/BVH" and bvh["head_length"] < 0.002
    assert bvh["marks"] == [False] * 5 and any("too short" in w for w in bvh["warnings"]), bvh
    assert r["panel_structure"] == {"mapped": True, "choices": 24}
    assert r["panel_after_edit"] and r["panel_pick"] and r["panel_saved"]
    cli = r["cli"]
    assert cli["bonemap"]["rc"] == 0 and cli["bonemap"]["written"], cli["bonemap"]["stderr"]
    assert cli["names"]["rc"] == 0 and "by structure (a guess)" in cli["names"]["stderr"]
    assert cli["broken"]["rc"] == 2 and "bone map is damaged" in cli["broken"]["stderr"] and not cli["broken"]["written"]
