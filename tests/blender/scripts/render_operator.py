"""Render Pose Video through bpy.ops in a saved .blend; report the result and the strip it added.

Parameters: ``blend``, where to save the scene first.
"""

import bpy

from scail_blender.blender import compat

from tests.blender.scripts.common import add_camera, addon_scene, emit, params

scene, _, _ = addon_scene()
add_camera(scene)
scene.render.fps = 16
bpy.ops.wm.save_as_mainfile(filepath=params()["blend"])
scene = bpy.context.scene
rig = scene.objects["Dancer"]
scene.scail.characters.add().armature = rig
scene.scail.write_frames = True
result = bpy.ops.scail.render_pose()
strip = compat.strips(scene.sequence_editor)[0]
emit({"result": sorted(result), "file": bpy.path.abspath(strip.filepath), "raw": strip.filepath,
      "start": strip.frame_final_start, "duration": strip.frame_final_duration})
