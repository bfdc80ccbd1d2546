"""A three-character Blender scene (real bpy) to a MultiAnimate video with the command line:
``scail render-pose --blend`` writes the skeletons, the per-character masks from the meshes and the
reference skeleton; ``scail generate`` runs a tiny MultiAnimate folder on them. A seven-character
scene gets seven masks; a checkpoint that takes fewer is refused before rendering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scail_blender.engine.multianimate.tiny import write_tiny_multianimate, write_tiny_wan_i2v
from scail_blender.media import video
from scail_blender.pose.identity import PALETTE

from tests.support import ROOT, run_script

SCRIPTS = ROOT / "tests" / "blender" / "scripts"


@pytest.mark.oldest_blender  # the scene renders in bpy; the tiny model runs in the test's own Python
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


def render_pose(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.oldest_blender
def test_seven_character_scene_to_seven_masks(tmp_path: Path) -> None:
    """Seven dancers with mesh bodies: seven masks, one per character, pairwise disjoint, whose union
    is the mesh mask's drawn pixels, left to right in the first frame, in the SCAIL-2 mask's colour
    order (its six colours repeat for the seventh); the standard checkpoint's 3 refuses them first."""
    blend = tmp_path / "septet.blend"
    assert len(run_script(SCRIPTS / "septet_blend.py", {"blend": str(blend)})["bodies"]) == 7
    checkpoints = {n: write_tiny_multianimate(tmp_path / f"multi{n}", persons=n) for n in (3, 7)}
    masks = tmp_path / "masks"
    common = ["--blend", str(blend), "--frame-range", "1:4", "--size", "192x352", "--out", str(tmp_path / "pose.mp4"),
              "--mask-out", str(tmp_path / "mask.mp4"), "--dwpose-out", str(tmp_path / "dwpose.mp4"),
              "--character-masks-out", str(masks)]
    refused = render_pose(*common, "--checkpoint", str(checkpoints[3]))
    assert refused.returncode != 0
    assert ("7 characters, but the MultiAnimate checkpoint multi3 animates at most 3: name the ones to render with "
            "--character, or use the extended checkpoint") in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multi3", "multi7", "septet.blend"]
    proc = render_pose(*common, "--checkpoint", str(checkpoints[7]))
    assert proc.returncode == 0, proc.stderr
    got = np.stack([np.stack(list(video.read_video(masks / f"character_{k + 1}.mp4"))) for k in range(7)])[..., 0]
    assert set(np.unique(got)) <= {0, 255}
    inside = got == 255
    colour = np.stack(list(video.read_video(tmp_path / "mask.mp4")))
    assert inside.shape[:2] == (7, len(colour)) and inside[:, 0].any(axis=(1, 2)).all()
    assert inside.sum(axis=0).max() == 1 and np.array_equal(inside.any(axis=0), colour.any(axis=-1))
    for k in range(6):
        painted = (colour == PALETTE[k]).all(axis=-1)
        assert np.array_equal(painted, inside[0] | inside[6] if k == 0 else inside[k]), k
    centres = [np.argwhere(m[0])[:, 1].mean() for m in inside]
    assert centres == sorted(centres)


def test_the_panel_renders_and_generates_with_a_multianimate_checkpoint(tmp_path: Path,
                                                                        blender_user_dir: dict[str, str]) -> None:
    """In Blender (real bpy): with a MultiAnimate folder as the checkpoint, Render Pose Video refuses
    more characters than it takes before rendering, then also writes its inputs, Sampler Preset >
    Default fills MultiAnimate's values, and Generate runs it."""
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
    assert ("4 characters, but the MultiAnimate checkpoint MultiAnimate animates at most 3: remove the ones to leave "
            "out from Characters in the Animate Character sidebar, or use the extended checkpoint") in result["refused"]
    assert result["files_after_refusal"] == []
    for name in (f"{stem}_characters/character_1.mp4", f"{stem}_characters/character_3.mp4",
                 f"{stem}_characters/reference_pose.png", f"{stem}_joints.npz"):
        assert name in result["files"], result["files"]
    # The masks are cut from the render's labels: no SCAIL-2 mask is written for them.
    assert f"{stem}_characters/character_4.mp4" not in result["files"] and f"{stem}_mask.mp4" not in result["files"]
    assert result["pose_mask_field"] == ""  # SCAIL-2's field is left alone
    assert result["preset"] == [50, 1.5, 5.0]
    inputs = result["inputs"]
    assert inputs["pose"].endswith(f"{stem}_dwpose.mp4") and inputs["pose_mask"] is None
    assert [Path(m).name for m in inputs["masks"]] == ["character_1.mp4", "character_2.mp4", "character_3.mp4"]
    assert (inputs["cfg"], inputs["sampler"]) == (1.5, None)  # the sampler is the model's: Euler
    assert result["state"] == "succeeded", result["error"]
    info = video.probe_video(result["result"]["output"])
    assert (info.frames, info.height, info.width) == (result["result"]["frames"], 64, 128)
