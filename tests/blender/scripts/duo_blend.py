"""Save a .blend with two Rigify dancers, Hero and Extra, filmed by one camera over frames 1-40
at 24 fps, for the command line tests to open.

Parameters: ``blend``, where to save it.
"""

import bpy

from tests.blender.scripts.common import add_camera, add_rigify_dancer, emit, empty_scene, params

blend = params()["blend"]
scene = empty_scene()
scene.render.fps = 24
scene.frame_start, scene.frame_end = 1, 40
add_rigify_dancer(scene, "Hero", (-0.8, 0.0, 0.0))
add_rigify_dancer(scene, "Extra", (0.9, 0.6, 0.0), phase=2.0)
add_camera(scene)
bpy.ops.wm.save_as_mainfile(filepath=blend)
emit({"saved": blend})
