"""Swing the Rigify rig's left arm by its FK control while it moves, extract four frames
stepwise, and report the motion beside Blender's own projection and depth of the DEF hand bone.

Parameters: ``blend``, the file of ``rigify_blend.py``.
"""

import bpy

from scail_blender.blender.scene_motion import ClipExtractor
from scail_blender.pose.skeleton import SMPL_JOINT_NAMES

from tests.blender.scripts.common import emit, params
from tests.blender.scripts.rigs import add_camera, blender_pixel

WRIST = SMPL_JOINT_NAMES.index("left_wrist")
bpy.ops.wm.open_mainfile(filepath=params()["blend"])
scene = bpy.context.scene
rig = bpy.data.objects["rig"]
cam = add_camera(scene, shift_x=0.05)
scene.render.resolution_x, scene.render.resolution_y = 896, 512
rig.pose.bones["upper_arm_parent.L"]["IK_FK"] = 1.0  # drive the arm by its FK controls
arm = rig.pose.bones["upper_arm_fk.L"]
arm.rotation_mode = "XYZ"
for frame, angle in ((1, 0.0), (3, 1.2)):
    arm.rotation_euler = (angle, 0.0, 0.0)
    arm.keyframe_insert("rotation_euler", frame=frame)
    rig.location = (0.3 * frame, 0.0, 0.0)
    rig.keyframe_insert("location", frame=frame)
scene.frame_set(7)
extractor = ClipExtractor(scene, [rig], frame_times=[1, 2, 3, 2.5])
scales = list(extractor.scales)
steps = 0
while not extractor.done:
    extractor.step()
    steps += 1
frame_after = scene.frame_current
motion = extractor.motion()
# Where Blender puts the deformation bone at each whole frame: pixel, and depth in mm.
blender = []
for t, frame in enumerate([1, 2, 3]):
    scene.frame_set(frame)
    world = rig.matrix_world @ rig.pose.bones["DEF-hand.L"].head
    blender.append({"ours": motion.intrinsics.project(motion.joints[t, 0, WRIST]).tolist(),
                    "pixel": blender_pixel(scene, cam, world), "depth_mm": -(cam.matrix_world.inverted() @ world).z * 1000})
emit({"scales": scales, "steps": steps, "frame": frame_after, "joints": motion.joints.tolist(),
      "hands_shape": list(motion.hands.shape), "image_size": list(motion.image_size), "person_ids": list(motion.person_ids),
      "min_hand_depth": float(motion.hands[:, 0, :, :, 2].min()), "min_head_mark_depth": float(motion.head_marks[:, 0, :, 2].min()),
      "blender": blender})
