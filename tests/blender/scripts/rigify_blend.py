"""Save a .blend with Rigify's Human metarig and the rig generated from it.

Parameters: ``blend``, where to save it.
"""

import bpy
import addon_utils  # importable only once bpy is

from tests.blender.scripts.common import emit, params
from tests.blender.scripts.rigs import fresh_scene

blend = params()["blend"]
fresh_scene()
addon_utils.enable("rigify", default_set=True)
bpy.ops.object.armature_human_metarig_add()
bpy.ops.pose.rigify_generate()
bpy.ops.wm.save_as_mainfile(filepath=blend)
emit({"saved": blend})
