"""Sample the Rigify rig's pose through its bone map; report two sampled points beside the
pose bones they come from (the left knee's head, the left eye's tail).

Parameters: ``blend``, the file of ``rigify_blend.py``.
"""

import bpy

from scail_blender.blender.armature import map_armature, sample_pose
from scail_blender.pose.skeleton import SMPL_JOINT_NAMES

from tests.blender.scripts.common import emit, params

bpy.ops.wm.open_mainfile(filepath=params()["blend"])
rig = bpy.data.objects["rig"]
bonemap, _ = map_armature(rig)
points = sample_pose(rig, bonemap)
emit({"knee": [points[SMPL_JOINT_NAMES.index("left_knee")].tolist(),
               list(rig.matrix_world @ rig.pose.bones["DEF-shin.L"].head)],
      "eye": [points[66 + 2].tolist(), list(rig.matrix_world @ rig.pose.bones["ORG-eye.L"].tail)]})
