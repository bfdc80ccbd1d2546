"""Register and unregister the add-on three times; report what is registered after each step
(panel, properties, operators, overlay, the job timer and its load_post handler)."""

import sys

import bpy

import scail_blender
from scail_blender.blender import addon, board, draw, prefs

from tests.blender.scripts.common import emit

seen = []
for _ in range(3):
    scail_blender.register()
    seen.append([hasattr(bpy.types, "SCAIL_PT_main"), hasattr(bpy.types.Scene, "scail"),
                 hasattr(bpy.ops.scail, "render_pose") and bpy.ops.scail.render_pose.poll(),
                 draw._handle is not None, bpy.app.timers.is_registered(board.drain),
                 board._after_load in bpy.app.handlers.load_post, hasattr(bpy.ops.scail, "generate")
                 and bpy.ops.scail.generate.poll()])
    scail_blender.unregister()
    seen.append([hasattr(bpy.types, "SCAIL_PT_main"), hasattr(bpy.types.Scene, "scail"),
                 any(c.is_registered for c in addon.CLASSES), draw._handle is not None,
                 bpy.app.timers.is_registered(board.drain), board._after_load in bpy.app.handlers.load_post, False])
emit({"seen": seen, "torch": "torch" in sys.modules, "prefs_id": prefs.ScailPreferences.bl_idname})
