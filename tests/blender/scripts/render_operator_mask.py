"""Render Pose Video through bpy.ops with Also SCAIL-2 Mask on, in a saved .blend; report the
files and what the panel's Pose Mask field now holds.

Parameters: ``blend``, where to save the scene first; ``mode``, the mask mode; ``driving``, the
panel's Driving choice.
"""

import bpy

from tests.blender.scripts.common import add_camera, addon_scene, emit, params

p = params()
scene, _, _ = addon_scene()
add_camera(scene)
scene.render.fps = 16
bpy.ops.wm.save_as_mainfile(filepath=p["blend"])
scene = bpy.context.scene
scene.scail.characters.add().armature = scene.objects["Dancer"]
scene.scail.size_preset = "CUSTOM"
scene.scail.height, scene.scail.width = 128, 224
scene.scail.write_mask = True
scene.scail.mask_mode = p["mode"]
scene.scail.driving = p["driving"]
result = bpy.ops.scail.render_pose()
emit({"result": sorted(result), "pose_mask": scene.scail.pose_mask,
      "pose_mask_abs": bpy.path.abspath(scene.scail.pose_mask)})
