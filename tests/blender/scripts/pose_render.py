"""Render the dancer's pose video at 16 fps (frames and joints too); report the strip it added.

Parameters: ``out``, ``frames_dir``, ``joints_out``.
"""

from pathlib import Path

import bpy

from scail_blender.blender import compat
from scail_blender.blender.scene_render import plan_pose_render, render_pose_video

from tests.blender.scripts.common import dancer_scene, emit, params

p = params()
scene, _, _ = dancer_scene()
plan = plan_pose_render(scene, Path(p["out"]), size=(512, 896), fps=16, frames_dir=Path(p["frames_dir"]),
                        joints_out=Path(p["joints_out"]))
files = render_pose_video(plan)
strip = compat.strips(scene.sequence_editor)[0]
emit({"frames": files.frames, "strip_file": bpy.path.abspath(strip.filepath), "start": strip.frame_final_start,
      "duration": strip.frame_final_duration, "strip_fps": strip.fps, "frame": scene.frame_current})
