"""Render Pose Video in the bpy module: files, strip timing, several characters, cancel and
bad input leave the scene as it was. Each test runs a fresh Blender in a child process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scail_blender.motion.model import load_motion_npz
from scail_blender.pose import video

from tests.support import run_python

SETUP = """
import json, bpy
from pathlib import Path
from tools.demo_scene import add_camera, add_rigify_dancer, empty_scene
scene = empty_scene()
scene.render.fps = 24
scene.frame_start, scene.frame_end = 10, 22
rigs = [add_rigify_dancer(scene, "Dancer", (0.0, 0.0, 0.0))]
camera = add_camera(scene)
scene.frame_set(15)
"""

STATE = """
def state(scene):
    editor = scene.sequence_editor
    strips = sorted((s.name, s.channel, s.frame_final_start) for s in editor.strips) if editor else []
    return {"frame": scene.frame_current, "objects": sorted(o.name for o in scene.objects), "strips": strips,
            "camera": scene.camera.name if scene.camera else None, "fps": scene.render.fps,
            "res": [scene.render.resolution_x, scene.render.resolution_y],
            "images": sorted(i.name for i in bpy.data.images)}
"""


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_nine_pose_frames_files_and_strip_timing(tmp_path: Path) -> None:
    out = run_python(SETUP + f"""
from scail_blender.blender.scene_render import plan_pose_render, render_pose_video
plan = plan_pose_render(scene, Path({str(tmp_path / "pose.mp4")!r}), size=(512, 896), fps=16,
                        frames_dir=Path({str(tmp_path / "frames")!r}), joints_out=Path({str(tmp_path / "joints.npz")!r}))
files = render_pose_video(plan)
strip = scene.sequence_editor.strips[0]
print(json.dumps({{"frames": files.frames, "strip_file": bpy.path.abspath(strip.filepath),
                  "start": strip.frame_final_start, "duration": strip.frame_final_duration,
                  "strip_fps": strip.fps, "frame": scene.frame_current}}))
""")
    result = last_json(out.stdout)
    # 13 scene frames at 24 fps last 0.54 s: 9 pose frames at 16 fps sampled at 10, 11.5, ... 22.
    assert result["frames"] == 9
    info = video.probe_video(tmp_path / "pose.mp4")
    assert (info.frames, info.fps, info.width, info.height) == (9, 16.0, 896, 512)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"{k:05d}.png" for k in range(9)]
    # The strip plays the scene-rate copy: starts at the range start, lasts the range, one video
    # frame per scene frame at the scene's 24 fps, so it neither races nor drifts.
    assert result["strip_file"] == str(tmp_path / "pose.24fps.mp4")
    assert (result["start"], result["duration"], result["strip_fps"]) == (10, 13, 24.0)
    assert video.probe_video(tmp_path / "pose.24fps.mp4").frames == 13
    assert result["frame"] == 15  # the user's frame is back
    pngs = list(video.read_video(tmp_path / "frames"))
    assert all(frame.any() for frame in pngs), "the dancer is outside the camera view"
    assert not np.array_equal(pngs[0], pngs[4]), "the dance does not move"

    # --joints-out holds exactly what was rendered: rendering it again gives the same frames.
    from scail_blender.motion.pose_video import frame_motion, motion_frames

    motion = load_motion_npz(tmp_path / "joints.npz")
    assert motion.joints.shape == (9, 1, 24, 3) and motion.image_size == (512, 896) and motion.fps == 16
    again = list(motion_frames(frame_motion(motion)))
    assert all(np.array_equal(a, b) for a, b in zip(again, pngs))


def test_two_characters_render_in_one_pass(tmp_path: Path) -> None:
    out = run_python(SETUP + f"""
rigs.append(add_rigify_dancer(scene, "Partner", (1.2, 0.5, 0.0), phase=1.0))
rigs[0].location.x = -0.9
from scail_blender.blender.scene_render import plan_pose_render, render_pose_video
plan = plan_pose_render(scene, Path({str(tmp_path / "duo.mp4")!r}), frame_range=(10, 12), fps=24,
                        joints_out=Path({str(tmp_path / "duo.npz")!r}), add_strip=False)
files = render_pose_video(plan)
print(json.dumps({{"people": [c.obj.name for c in plan.characters], "frames": files.frames,
                  "strips": len(scene.sequence_editor.strips) if scene.sequence_editor else 0}}))
""")
    result = last_json(out.stdout)
    assert sorted(result["people"]) == ["Dancer", "Partner"]
    assert result["frames"] == 3 and result["strips"] == 0
    motion = load_motion_npz(tmp_path / "duo.npz")
    assert motion.joints.shape == (3, 2, 24, 3)
    assert sorted(motion.person_ids) == ["Dancer", "Partner"]
    frame = next(video.read_video(tmp_path / "duo.mp4")).astype(int)
    # Two people get the two official palettes; each has a pelvis-free body on its own side.
    columns = np.nonzero(frame.sum(axis=(0, 2)) > 0)[0]
    assert columns.size and columns.max() - columns.min() > 200, "both dancers should spread across the frame"


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        ("scene.camera = None", "Camera from View"),
        ("camera.data.type = 'ORTHO'", "orthographic"),
        ("kwargs['size'] = (500, 896)", "nearest is 512x896"),
        ("kwargs['size'] = (100000, 896)", "outside 16..4096"),
        ("kwargs['frame_range'] = (30, 10)", "ends before it starts"),
        ("kwargs['frame_range'] = (1, 10**6)", "render it in parts"),
        ("kwargs['out'] = Path('/proc/scail/pose.mp4')", "folder"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path, break_it: str, expected: str) -> None:
    out = run_python(SETUP + STATE + f"""
from scail_blender.errors import ScailError
from scail_blender.blender.scene_render import plan_pose_render, render_pose_video
kwargs = {{"out": Path({str(tmp_path / "pose.mp4")!r})}}
{break_it}
before = state(scene)
try:
    render_pose_video(plan_pose_render(scene, kwargs.pop("out"), **kwargs))
    message = "no error"
except ScailError as exc:
    message = str(exc)
print(json.dumps({{"message": message, "same": state(scene) == before}}))
""")
    result = last_json(out.stdout)
    assert expected.lower() in result["message"].lower(), result["message"]
    assert result["same"]
    assert list(tmp_path.iterdir()) == []


def test_cancel_midway_restores_the_scene_and_leaves_no_files(tmp_path: Path) -> None:
    out = run_python(SETUP + STATE + f"""
from scail_blender.errors import Cancelled
from scail_blender.blender.scene_render import PoseRenderJob, plan_pose_render
plan = plan_pose_render(scene, Path({str(tmp_path / "pose.mp4")!r}), frames_dir=Path({str(tmp_path / "frames")!r}))
before = state(scene)
results = {{}}
for when in ("reading", "encoding"):
    job = PoseRenderJob(plan)
    ticks = 0
    try:
        while job.tick(budget_s=0.0) is None:  # one frame per tick, as the modal operator does
            ticks += 1
            if when == "reading" and ticks == 3:
                job.cancel()
            if when == "encoding" and job.progress > 0.5:
                job.cancel()
        results[when] = "finished"
    except Cancelled as exc:
        results[when] = "cancelled"
for when in ("reading", "encoding"):  # Blender closing the operator: abort() waits for the cleanup
    job = PoseRenderJob(plan)
    while job.tick(budget_s=0.0) is None and not (when == "reading" and job.progress > 0.2) \
            and not (when == "encoding" and job.progress > 0.5):
        pass
    job.abort()
    results["abort " + when] = "aborted"
results["same"] = state(scene) == before
print(json.dumps(results))
""")
    assert last_json(out.stdout) == {"reading": "cancelled", "encoding": "cancelled", "abort reading": "aborted",
                                     "abort encoding": "aborted", "same": True}
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
