"""Open a saved .blend and report its scene's movie strips: name, channel, start, length, seed.

Parameters: ``blend``.
"""

import bpy

from scail_blender.blender.compat import strips

from tests.blender.scripts.common import emit, params

bpy.ops.wm.open_mainfile(filepath=params()["blend"])
editor = bpy.context.scene.sequence_editor
emit(sorted([s.name, s.channel, s.frame_final_start, s.frame_final_duration, s.get("scail_seed")]
            for s in strips(editor)))
