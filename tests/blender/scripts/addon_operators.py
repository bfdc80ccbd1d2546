"""The add-on's operators through bpy.ops on a Rigify dancer: add the character, the overlay's
segments, Camera from View, a manual bone choice, and the preview frame."""

import bpy
import numpy as np

from scail_blender.blender import draw

from tests.blender.scripts.common import addon_scene, emit

scene, rig, area = addon_scene()
for obj in scene.objects:
    obj.select_set(obj == rig)
bpy.context.view_layer.objects.active = rig
bpy.ops.scail.character_add()
character = scene.scail.characters[0]
report = {"character": character.armature.name, "mapped": character.mapped, "preset": character.preset}

# The overlay's segments, read after moving the rig: they must follow it.
rig.location = (3.0, 0.0, 0.0)
bpy.context.view_layer.update()
coords, colors = draw._limb_lines(scene)
report["overlay"] = [len(coords), len(colors)]
report["overlay_x"] = [min(c[0] for c in coords), max(c[0] for c in coords)]
report["overlay_z"] = [min(c[2] for c in coords), max(c[2] for c in coords)]
rig.location = (0.0, 0.0, 0.0)
bpy.context.view_layer.update()

# No camera yet: the render refuses; then Camera from View makes one.
try:
    bpy.ops.scail.render_pose()
except RuntimeError as exc:
    report["no_camera"] = str(exc)
space = area.spaces.active
space.region_3d.view_perspective = "PERSP"
space.region_3d.view_distance = 6.0
space.region_3d.view_location = (0.0, 0.0, 1.0)
with bpy.context.temp_override(area=area, region=next(r for r in area.regions if r.type == "WINDOW")):
    bpy.ops.scail.camera_from_view()
report["camera"] = scene.camera.name
report["resolution"] = [scene.render.resolution_x, scene.render.resolution_y]

# Manual bone choice: the left wrist on the tail of the forearm instead of the hand.
with bpy.context.temp_override(area=area):
    bpy.ops.scail.override_add()
override = character.overrides[0]
override.joint, override.bone, override.end = "left_wrist", "DEF-forearm.L.001", "tail"
bpy.ops.scail.character_remap()
report["remapped"] = character.mapped

bpy.ops.scail.preview_frame()
image = bpy.data.images["SCAIL Pose Preview"]
report["preview"] = list(image.size)
pixels = np.empty(image.size[0] * image.size[1] * 4, np.float32)
image.pixels.foreach_get(pixels)
report["preview_lit"] = float(pixels.reshape(-1, 4)[:, :3].max())
emit(report)
