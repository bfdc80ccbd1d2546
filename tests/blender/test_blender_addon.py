"""The add-on's registration and operators in the bpy module (fresh Blender per test, each
running a script of ``scripts/``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scail_blender.media import video
from scail_blender.pose.identity import PALETTE

from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.mark.oldest_blender
def test_register_unregister_three_times_is_clean() -> None:
    result = run_script(SCRIPTS / "register_cycle.py")
    assert result["seen"] == [[True] * 7, [False] * 7] * 3
    assert not result["torch"]
    assert result["prefs_id"] == "scail_blender"  # the root package, not scail_blender.blender


@pytest.mark.oldest_blender
def test_operators_through_bpy_ops() -> None:
    result = run_script(SCRIPTS / "addon_operators.py")
    assert result["character"] == "Dancer" and result["mapped"] and result["remapped"]
    assert result["preset"] == "Rigify"
    # The overlay's segments: 13 limbs in world space, so they follow the rig when it moves.
    assert result["overlay"] == [26, 26]
    assert 2.0 < result["overlay_x"][0] < result["overlay_x"][1] < 4.0
    assert 0.0 <= result["overlay_z"][0] < 0.3 and 1.3 < result["overlay_z"][1] < 2.2  # ankles to head
    assert "Camera from View" in result["no_camera"]
    assert result["camera"] == "SCAIL Camera"
    assert result["resolution"] == [896, 512]
    assert result["preview"] == [896, 512]
    assert result["preview_lit"] > 0.2, "the preview shows no skeleton"


@pytest.mark.oldest_blender
def test_render_operator_writes_next_to_the_blend_and_adds_the_strip(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "render_operator.py", {"blend": str(tmp_path / "shot.blend")})
    assert result["result"] == ["FINISHED"]
    # Same rate in scene and video: the strip plays the pose video itself.
    assert result["file"] == str(tmp_path / "shot_Scene_pose.mp4")
    assert result["raw"] == "//shot_Scene_pose.mp4"  # relative, as Blender's own UI adds files
    assert (result["start"], result["duration"]) == (1, 5)
    assert len(list((tmp_path / "shot_Scene_pose").glob("*.png"))) == 5


@pytest.mark.oldest_blender
def test_panels_draw_existing_properties_and_operators() -> None:
    """Panels never draw in background mode, so the script draws them into a layout that checks
    every property and operator it is given against the registered ones."""
    drawn = run_script(SCRIPTS / "panels_draw.py")
    # the running pose render is a row of the board, shown with its cancel button at the top too
    assert "progress" in drawn["SCAIL_PT_main"] and "op scail.job_cancel" in drawn["SCAIL_PT_main"]
    characters = drawn["SCAIL_PT_characters"]
    assert "list characters" in characters and "list overrides" in characters
    assert characters.count("label") > 24, "the bone map of the Rigify rig should be listed"
    camera = drawn["SCAIL_PT_camera_output"]
    assert {"prop width", "prop height", "prop fps", "op scail.camera_from_view", "prop write_mask",
            "prop mask_mode", "prop driving"} <= set(camera)
    reference = set(drawn["SCAIL_PT_reference"])
    assert {"id reference_image", "prop prompt", "prop negative_prompt", "prop steps", "prop cfg", "prop shift",
            "prop seed", "prop pose_source", "id reference_mask", "prop pose_mask", "op scail.generate",
            "menu scail.sampler_preset", "list loras", "op scail.lora_add", "op scail.lora_remove",
            "op scail.lora_move", "search pose_strip", "prop black_out"} <= reference
    scail2 = set(drawn["SCAIL_PT_scail2"])
    assert {"prop mode", "prop reference_engine", "prop reference_frame_source", "prop reference_frame",
            "prop reference_camera", "prop view_front", "prop view_side", "prop view_back", "prop use",
            "op scail.render_reference", "op scail.render_extra_views", "prop mask_source", "id mask_image",
            "prop identity", "op scail.reference_mask_from_image", "op scail.load_mask_previews"} <= scail2
    job_list = drawn["SCAIL_PT_jobs"]
    # every kind of job on one board: a generation, a failed one, an extraction, a pose render
    assert job_list.count("progress") == 3 and job_list.count("op scail.job_cancel") == 3  # the running jobs only
    assert job_list.count("op scail.job_remove") == 4
    assert {"op scail.release_model", "op scail.start_server"} <= set(job_list)
    assert drawn["lines"] == {"a": "denoise 3/10, 12 s left", "b": "boom", "c": "extract 5/20",
                              "d": "Reading joints (30%)"}
    preferences = set(drawn["preferences"])
    assert {"prop output_policy", "prop output_folder", "prop smpl_dir"} <= preferences
    assert {"prop backend", "prop models_dir", "prop checkpoint_dir", "prop server_url", "prop server_token",
            "prop python_path", "op scail.start_server"} <= preferences
    models = drawn["preferences_models"]
    assert {"prop models_dir", "prop dit", "prop setup", "op scail.get_models"} <= set(models)
    assert "prop checkpoint_dir" not in models  # the Models Folder replaces it


@pytest.mark.oldest_blender
def test_a_pose_render_on_the_board_steps_reports_progress_and_cancels(tmp_path: Path) -> None:
    """Background Blender has no event loop, so the script calls the board's timer as Blender
    would: a render row advances a slice per call, can be cancelled, and ends in the Sequencer."""
    result = run_script(SCRIPTS / "modal_render.py", {"out": str(tmp_path / "pose.mp4")})
    cancelled, finished = result["cancelled"], result["finished"]
    assert cancelled["state"] == "cancelled" and "cancelled" in cancelled["line"]
    assert cancelled["frame"] == 7 and cancelled["strips"] == 0 and not cancelled["render_poll_blocked"]
    assert finished["state"] == "succeeded" and finished["line"].startswith("wrote pose.mp4 and mask.mp4")
    assert finished["rising"] and finished["ticks"] > 2 and finished["render_poll_blocked_while_running"]
    assert finished["frame"] == 7 and finished["strips"] == 1
    assert (tmp_path / "pose.24fps.mp4").exists()
    assert not cancelled["mask"] and finished["mask"]
    assert video.probe_video(tmp_path / "mask.mp4").frames == video.probe_video(tmp_path / "pose.mp4").frames



@pytest.mark.parametrize(("mode", "driving"), [("animation", "skeleton"), ("replacement", "mesh")])
def test_render_operator_writes_the_mask_and_fills_pose_mask(tmp_path: Path, mode: str, driving: str) -> None:
    """The panel's render with Also SCAIL-2 Mask, and its Driving choice: a skeleton in colours
    or the character grey (mesh driving)."""
    result = run_script(SCRIPTS / "render_operator_mask.py", {"blend": str(tmp_path / "shot.blend"), "mode": mode,
                                                              "driving": driving})
    assert result["result"] == ["FINISHED"]
    assert result["pose_mask"] == "//shot_Scene_pose_mask.mp4"  # relative, like the strip
    mask = Path(result["pose_mask_abs"])
    assert mask == tmp_path / "shot_Scene_pose_mask.mp4"
    pose, info = video.probe_video(tmp_path / "shot_Scene_pose.mp4"), video.probe_video(mask)
    assert (info.frames, info.width, info.height, info.fps) == (pose.frames, pose.width, pose.height, pose.fps) == \
        (5, 224, 128, 16.0)
    first = next(video.read_video(mask))
    background = (0, 0, 0) if mode == "animation" else (255, 255, 255)
    assert {tuple(int(v) for v in c) for c in first.reshape(-1, 3)} == {background, PALETTE[0]}
    frame = next(video.read_video(tmp_path / "shot_Scene_pose.mp4")).astype(int)
    colour = np.abs(frame - frame.mean(axis=-1, keepdims=True)).max()
    assert (colour <= 12) == (driving == "mesh") and frame.max() > 100


def test_the_lora_list_and_preset_menu_make_the_jobs_stack(tmp_path: Path) -> None:
    """Add, move, remove and untick LoRAs in the panel's list, pick a sampler preset, and build the
    job: the stack is the ticked entries top first with their strengths; the preset filled the
    fields and an edit after it wins; a server gets the local file as an upload, names as names."""
    import numpy as np
    from PIL import Image

    from scail_blender.media.video import write_video

    from tests.support.loras import write_lora

    write_video([np.zeros((64, 64, 3), np.uint8)] * 5, tmp_path / "pose.mp4", 16)
    Image.new("RGB", (64, 64)).save(tmp_path / "ref.png")
    lora = write_lora(tmp_path / "mine.safetensors")
    result = run_script(SCRIPTS / "lora_list.py", {"ref": str(tmp_path / "ref.png"), "pose": str(tmp_path / "pose.mp4"),
                                                    "folder": str(tmp_path), "lora": str(lora)})
    assert result["added"] == [[str(lora), 0.5, True], ["style.safetensors", 1.0, True],
                               ["dropped.safetensors", 2.0, True], ["unused.safetensors", 1.5, True]]
    assert [name for name, *_ in result["moved"]][:2] == ["style.safetensors", str(lora)]
    assert result["active_after_move"] == 0
    assert result["edited"] == [["style.safetensors", 1.0, True], [str(lora), 0.5, True],
                                ["unused.safetensors", 1.5, False]]
    assert result["move_up_at_top"] == ["CANCELLED"]
    assert result["distill"] == [8, 1.0, 1.0]
    assert result["job"] == {"loras": [["style.safetensors", 1.0], [str(lora), 0.5]], "steps": 6, "shift": 1.0,
                             "cfg": 1.0, "lora_mode": "merge"}
    assert result["sent"] == {"loras": [["style.safetensors", 1.0], ["mine.safetensors", 0.5]],
                              "uploads": {"lora_1": str(lora)}}
    assert result["default"] == [40, 3.0, 5.0]
    assert "The LoRA style.safetensors is not a file" in result["in_process_refusal"]
    assert result["count_at_limit"] == 8 and "at most 8 LoRAs" in result["add_over_limit"]
