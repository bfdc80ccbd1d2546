"""Map the generated Rigify rig and its metarig; report the mapping of each and their rest points.

Parameters: ``blend``, the file of ``rigify_blend.py``.
"""

import bpy

from scail_blender.blender.armature import bone_infos, map_armature
from scail_blender.pose.skeleton import SMPL_JOINT_NAMES
from tests.support.rig_skeletons import rest_points

from tests.blender.scripts.common import emit, params

JOINTS = ("left_shoulder", "right_elbow", "left_wrist", "right_knee", "neck", "head")
bpy.ops.wm.open_mainfile(filepath=params()["blend"])
result = {}
for name in ("rig", "metarig"):
    bonemap, report = map_armature(bpy.data.objects[name])
    result[name] = {
        "ok": report.ok, "preset": report.preset, "mapped": len(report.mapped), "summary": report.summary(),
        "body": {j: bonemap.body[SMPL_JOINT_NAMES.index(j)].bone for j in JOINTS},
        "hands": report.hands, "left_hand_1": bonemap.hands["left"][1].bone, "right_hand_20_end": bonemap.hands["right"][20].end,
        "face_from_rule": list(report.face_from_rule), "head_marks": [m.bone for m in bonemap.head_marks],
        "rest_points": rest_points(bone_infos(bpy.data.objects[name]), bonemap).tolist(),
    }
emit(result)
