"""Break the dancer's scene or the render's arguments one way, try to render, and report the
error's message and whether the scene is as it was.

Parameters: ``out`` (the video's path), and what to break: ``no_camera`` (true),
``camera_type`` (e.g. "ORTHO") or ``plan`` (keyword arguments of plan_pose_render; lists
become tuples).
"""

from pathlib import Path

from scail_blender.blender.scene_render import plan_pose_render, render_pose_video
from scail_blender.errors import ScailError

from tests.blender.scripts.common import dancer_scene, emit, params, scene_state

p = params()
scene, _, camera = dancer_scene()
if p.get("no_camera"):
    scene.camera = None
if "camera_type" in p:
    camera.data.type = p["camera_type"]
kwargs = {key: tuple(value) for key, value in p.get("plan", {}).items()}
before = scene_state(scene)
try:
    render_pose_video(plan_pose_render(scene, Path(p["out"]), **kwargs))
    message = "no error"
except ScailError as exc:
    message = str(exc)
emit({"message": message, "same": scene_state(scene) == before})
