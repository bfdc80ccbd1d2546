"""SCAIL-2 driving masks from the characters' meshes, against Blender's own object-index render
(Cycles, one sample at the pixel centre, the smallest filter) of the same frames, read back
through ffmpeg and the model's own mask classifier."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scail_blender.engine.preprocess import MASK_COLOURS
from scail_blender.media import video
from scail_blender.motion.model import load_motion_npz
from scail_blender.motion.pose_video import frame_motion
from scail_blender.pose.identity import PALETTE, background
from scail_blender.pose.silhouettes import capsule_depth
from scail_blender.pose.skeleton import smpl_to_scail

from tests.motion.test_mask_video import classes
from tests.support import ROOT, run_script
from tests.support.exr import read_channel

SCRIPTS = Path(__file__).resolve().parent / "scripts"
INDEX = ("IndexOB.X", "Object Index.X")  # the pass's channel on 4.2-4.5 and on 5.0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def centre_x(pixels: np.ndarray) -> float:
    cols = np.nonzero(pixels.any(axis=0))[0]
    return (cols[0] + cols[-1]) / 2


def colour_class(colour: tuple[int, int, int]) -> int:
    """The class the model should read for a flat colour (-1: black, no class)."""
    on = tuple(int(c > 225) for c in colour)
    return MASK_COLOURS.index(on) if on in MASK_COLOURS else -1


def check_mesh_mask(tmp_path: Path, case: str, mode: str) -> None:
    """Render the case's scene with its mask and Cycles' index passes, and check the mask."""
    result = run_script(SCRIPTS / "mesh_mask_scene.py", {"out_dir": str(tmp_path), "case": case, "mode": mode})
    names, meshless, depth = result["characters"], result["meshless"], result["depth"]
    masks = list(video.read_video(result["mask"]))
    pose = video.probe_video(tmp_path / "pose.mp4")
    assert len(masks) == result["frames"] == pose.frames == 5
    assert masks[0].shape == (pose.height, pose.width, 3)
    # Identities: left to right in the first frame, kept for the whole clip.
    colour = {name: PALETTE[rank] for rank, name in enumerate(sorted(names, key=lambda n: result["start_x"][n]))}
    bg = background(mode, "driving")
    meshes = [n for n in names if n not in meshless]
    motion = frame_motion(load_motion_npz(result["joints"]))
    overlap_seen = dict.fromkeys(names, 0)
    mixed = {name: np.zeros(2, int) for name in meshes}  # mesh in front of / behind a capsule character
    for t, mask in enumerate(masks):
        # Every pixel is exactly a character's colour or the background, and the model's own
        # classifier reads each as that colour's class.
        allowed = np.array([bg, *colour.values()], np.uint8)
        match = (mask[:, :, None, :] == allowed[None, None]).all(axis=-1)
        assert match.any(axis=-1).all(), f"frame {t}: colours outside the palette and background"
        intended = np.array([colour_class(c) for c in map(tuple, allowed)])[match.argmax(axis=-1)]
        assert np.array_equal(classes(mask), intended), f"frame {t}: the model reads other classes"
        shown = {name: (mask == colour[name]).all(axis=-1) for name in names}
        for name in names:
            assert shown[name].any(), f"frame {t}: {name} is not in the mask"
        index = read_channel(result["renders"]["all"][t], INDEX)
        alone = {name: read_channel(result["renders"][name][t], INDEX) > 0 for name in meshes}
        # Where a character without a mesh shows, Cycles sees nothing of it: compare elsewhere.
        elsewhere = ~np.any([shown[name] for name in meshless], axis=0) if meshless else np.ones(index.shape, bool)
        for name in meshes:
            blender = (index == names.index(name) + 1) & elsewhere
            assert iou(shown[name] & elsewhere, blender) >= 0.98, f"frame {t}: {name}"
        for name in meshless:
            p = names.index(name)
            capsule = np.isfinite(capsule_depth(smpl_to_scail(motion.joints[t, p]), motion.intrinsics,
                                                motion.image_size))
            assert not (shown[name] & ~capsule).any(), f"frame {t}: {name} outside its capsules"
            assert shown[name][capsule & (index == 0)].all(), f"frame {t}: {name} missing where no mesh is"
            for m in meshes:
                over = capsule & (index == names.index(m) + 1)
                assert (shown[name] | shown[m])[over].all(), f"frame {t}: {name} over {m} is neither"
                mixed[m] += np.array([shown[m][over].sum(), shown[name][over].sum()])
        # Occlusion, pixel by pixel: where two characters overlap, the one Blender shows there.
        for a in meshes:
            for b in meshes[meshes.index(a) + 1:]:
                both = alone[a] & alone[b] & elsewhere
                if both.any():
                    truth = np.array([colour[names[int(k) - 1]] for k in index[both]], np.uint8)
                    assert (mask[both] == truth).all(axis=-1).mean() >= 0.98, f"frame {t}: {a} and {b}"
                    for name in (a, b):
                        overlap_seen[name] += int(shown[name][both].sum())
    # The board of the far character hides the near one where they overlap, the near one's body
    # hides the far one's: neither wins everywhere.
    assert all(overlap_seen[name] > 0 for name in meshes), f"one character always wins: {overlap_seen}"
    if meshless:
        # The near character hides the capsule one; the far one's body is behind it, its board in front.
        near, far = sorted(meshes, key=lambda n: depth[n])[:2]
        assert mixed[near][0] > 0 and mixed[near][1] <= 0.02 * mixed[near].sum(), mixed
        assert (mixed[far] > 0).all(), mixed
    near, far = sorted(meshes, key=lambda n: depth[n])[:2]
    first = {n: read_channel(result["renders"][n][0], INDEX) > 0 for n in (near, far)}
    last = {n: read_channel(result["renders"][n][-1], INDEX) > 0 for n in (near, far)}
    assert centre_x(first[near]) < centre_x(first[far]) and centre_x(last[near]) > centre_x(last[far]), \
        "the characters do not swap sides"


@pytest.mark.oldest_blender
def test_two_crossing_characters_rigify_and_mixamo(tmp_path: Path) -> None:
    check_mesh_mask(tmp_path, "two", "animation")


def test_command_line_renders_the_same_mesh_mask(tmp_path: Path) -> None:
    """`scail render-pose --blend` (bpy 5.0.1, as it asks for) on the saved scene: the same mask,
    frame for frame, as the scene's own render, also with `--driving mesh` (then the pose video
    is grey meshes)."""
    blend = tmp_path / "two.blend"
    result = run_script(SCRIPTS / "mesh_mask_scene.py", {"out_dir": str(tmp_path), "case": "two",
                                                         "mode": "replacement", "blend": str(blend)})
    cli = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", "--blend", str(blend),
                           "--size", "192x320", "--out", str(cli / "pose.mp4"), "--mask-out", str(cli / "mask.mp4"),
                           "--mask-mode", "replacement", "--driving", "mesh"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "replacement driving mask" in proc.stdout
    ours, theirs = list(video.read_video(cli / "mask.mp4")), list(video.read_video(result["mask"]))
    assert len(ours) == 5 and all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert (ours[0] == (255, 255, 255)).all(axis=-1).mean() > 0.5
    pose = next(iter(video.read_video(cli / "pose.mp4"))).astype(int)
    assert np.abs(pose - pose.mean(axis=-1, keepdims=True)).max() <= 12 and (pose > 100).any()


def test_three_characters_one_without_mesh_portrait_replacement(tmp_path: Path) -> None:
    check_mesh_mask(tmp_path, "three", "replacement")


def test_mesh_driving_video_draws_the_masks_silhouettes_flat_shaded(tmp_path: Path) -> None:
    """`driving="mesh"`: the pose video is the characters' meshes, grey on black, on exactly the
    pixels the mask gives them (the mask itself unchanged from a skeleton render's), one flat grey
    per face, in the skeleton render's frames, size and rate."""
    result = run_script(SCRIPTS / "mesh_mask_scene.py", {"out_dir": str(tmp_path), "case": "three",
                                                         "mode": "animation", "driving": "mesh"})
    mesh, skeleton = video.probe_video(result["pose"]), video.probe_video(result["skeleton_pose"])
    assert (mesh.frames, mesh.width, mesh.height, mesh.fps) == (skeleton.frames, skeleton.width, skeleton.height,
                                                                 skeleton.fps)
    masks = list(video.read_video(result["mask"]))
    assert all(np.array_equal(a, b) for a, b in zip(masks, video.read_video(result["skeleton_mask"]), strict=True))
    for t, (frame, mask, bones) in enumerate(zip(video.read_video(result["pose"]), masks,
                                                 video.read_video(result["skeleton_pose"]), strict=True)):
        people = mask.any(axis=-1)
        grey = frame.astype(int).mean(axis=-1)
        # H.264 (yuv420, lossy) blurs edges by a pixel or so: compare the lit area, not every pixel.
        assert iou(grey > 24, people) >= 0.95, f"frame {t}"
        assert np.abs(frame.astype(int) - grey[..., None]).max() <= 12, f"frame {t}: not grey"
        levels = np.unique(np.round(grey[people & (grey > 40)] / 16))
        assert len(levels) >= 4, f"frame {t}: flat shading shows only {levels * 16}"
        assert iou(bones.any(axis=-1), people) < 0.9, f"frame {t}: the mesh video looks like the skeleton"
