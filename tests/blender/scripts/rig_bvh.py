"""Import a CMU-style BVH in centimetres, map it, extract two frames with the automatic scale
and one with a manual one; report the motion beside Blender's projection of the left hand.

Parameters: ``bvh``, the file to import.
"""

import math

import bpy

from scail_blender.blender.armature import map_armature
from scail_blender.blender.scene_motion import Character, ClipExtractor
from scail_blender.pose.skeleton import SMPL_JOINT_NAMES

from tests.blender.scripts.common import emit, params
from tests.blender.scripts.rigs import add_camera, blender_pixel, fresh_scene

WRIST = SMPL_JOINT_NAMES.index("left_wrist")
scene = fresh_scene()
bpy.ops.import_anim.bvh(filepath=params()["bvh"], update_scene_fps=False, update_scene_duration=True)
obj = next(o for o in scene.objects if o.type == "ARMATURE")
bonemap, report = map_armature(obj)
# Camera 6 m = 600 units away in the rig's centimetre world, facing the character.
cam = add_camera(scene, location=(0.0, 600.0, 100.0), rotation=(math.radians(90), 0.0, math.radians(180)))
cam.data.clip_end = 10000
extractor = ClipExtractor(scene, [Character(obj)], frame_times=[1, 2])
height, scales = extractor.heights_m[0], list(extractor.scales)
motion = extractor.run()
blender = []
for t, frame in enumerate((1, 2)):
    scene.frame_set(frame)
    world = obj.matrix_world @ obj.pose.bones["LeftHand"].head
    blender.append({"ours": motion.intrinsics.project(motion.joints[t, 0, WRIST]).tolist(),
                    "pixel": blender_pixel(scene, cam, world)})
manual = ClipExtractor(scene, [Character(obj, scale=0.02)], frame_times=[1]).run()
emit({"ok": report.ok, "preset": report.preset, "mapped": len(report.mapped), "summary": report.summary(),
      "height": height, "scales": scales, "joints": motion.joints[:, 0].tolist(), "blender": blender,
      "manual": manual.joints[0, 0].tolist()})
