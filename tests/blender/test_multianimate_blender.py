"""A three-character Blender scene (real bpy) to a MultiAnimate video with the command line:
``scail render-pose --blend`` writes the skeletons, the per-character masks from the meshes and the
reference skeleton; ``scail generate`` runs a tiny MultiAnimate folder on them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from scail_blender.engine.multianimate.tiny import write_tiny_multianimate, write_tiny_wan_i2v
from scail_blender.media import video
from scail_blender.pose.identity import PALETTE

from tests.support import ROOT, run_script

SCRIPTS = ROOT / "tests" / "blender" / "scripts"


def test_three_character_scene_to_multianimate_video(tmp_path: Path) -> None:
    blend = tmp_path / "trio.blend"
    run_script(SCRIPTS / "trio_blend.py", {"blend": str(blend)})
    masks, pose = tmp_path / "masks", tmp_path / "pose.mp4"
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", "--blend", str(blend),
                           "--frame-range", "1:10", "--size", "128x224", "--out", str(pose),
                           "--mask-out", str(tmp_path / "mask.mp4"), "--dwpose-out", str(tmp_path / "dwpose.mp4"),
                           "--character-masks-out", str(masks)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    frames = video.probe_video(pose).frames
    assert video.probe_video(tmp_path / "dwpose.mp4").frames == frames >= 5
    # Each character's mask is its identity colour in the mesh mask, left to right in the first frame.
    colour = list(video.read_video(tmp_path / "mask.mp4"))
    centres = []
    for k in range(3):
        got = list(video.read_video(masks / f"character_{k + 1}.mp4"))
        assert len(got) == frames
        for mine, theirs in zip(got, colour):
            assert np.array_equal(mine[..., 0] == 255, (theirs == PALETTE[k]).all(axis=2))
        centres.append(np.argwhere(got[0][..., 0])[:, 1].mean())
    assert centres[0] < centres[1] < centres[2]
    assert (np.asarray(Image.open(masks / "reference_pose.png")) > 0).any(axis=2).mean() > 0.005
    # The flags render-pose prints run a tiny MultiAnimate folder on the scene's inputs.
    write_tiny_wan_i2v(tmp_path / "models" / "Wan2.1-I2V-14B-720P")
    checkpoint = write_tiny_multianimate(tmp_path / "models" / "MultiAnimate")
    flags = next(line for line in proc.stdout.splitlines() if "scail generate " in line).split("scail generate ")[1]
    # The reference image is a stand-in (the tiny model's video is noise whatever it is given).
    out = tmp_path / "multi.mp4"
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "generate", "--checkpoint", str(checkpoint),
                           "--ref", str(masks / "reference_pose.png"), "--pose", str(tmp_path / "dwpose.mp4"), *flags.split(),
                           "--out", str(out), "--size", "64x128", "--max-frames", "5", "--steps", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = video.probe_video(out)
    assert (info.frames, info.height, info.width) == (5, 64, 128)


def test_the_panel_renders_and_generates_with_a_multianimate_checkpoint(tmp_path: Path,
                                                                        blender_user_dir: dict[str, str]) -> None:
    """In Blender (real bpy): with a MultiAnimate folder as the checkpoint, Render Pose Video also
    writes its inputs, Sampler Preset > Default fills MultiAnimate's values, and Generate runs it."""
    write_tiny_wan_i2v(tmp_path / "models" / "Wan2.1-I2V-14B-720P")
    checkpoint = write_tiny_multianimate(tmp_path / "models" / "MultiAnimate")
    ref = tmp_path / "ref.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)).save(ref)
    out = tmp_path / "out"
    out.mkdir()
    result = run_script(SCRIPTS / "multianimate_panel.py", {"checkpoint": str(checkpoint), "ref": str(ref),
                                                            "folder": str(out)},
                        env={**blender_user_dir, "OMP_NUM_THREADS": "1"}, timeout=400)
    assert result["multianimate"]
    stem = next(Path(f).stem for f in result["files"] if f.endswith("_dwpose.mp4")).removesuffix("_dwpose")
    for name in (f"{stem}_characters/character_1.mp4", f"{stem}_characters/character_3.mp4",
                 f"{stem}_characters/reference_pose.png", f"{stem}_mask.mp4", f"{stem}_joints.npz"):
        assert name in result["files"], result["files"]
    assert result["pose_mask_field"] == ""  # SCAIL-2's field is left alone
    assert result["preset"] == [50, 1.5, 5.0]
    inputs = result["inputs"]
    assert inputs["pose"].endswith(f"{stem}_dwpose.mp4") and inputs["pose_mask"] is None
    assert [Path(m).name for m in inputs["masks"]] == ["character_1.mp4", "character_2.mp4", "character_3.mp4"]
    assert (inputs["cfg"], inputs["sampler"]) == (1.5, None)  # the sampler is the model's: Euler
    assert result["state"] == "succeeded", result["error"]
    info = video.probe_video(result["result"]["output"])
    assert (info.frames, info.height, info.width) == (result["result"]["frames"], 64, 128)
