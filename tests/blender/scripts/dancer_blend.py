"""Save a .blend with one Rigify dancer, Hero, and a camera, for command line tests to open.

Parameters: ``blend`` (where to save it), ``fps`` and ``frames`` (the scene's rate and last frame).
"""

import bpy

from tests.blender.scripts.common import add_camera, add_rigify_dancer, emit, empty_scene, params

args = params()
scene = empty_scene()
scene.render.fps = args["fps"]
scene.frame_start, scene.frame_end = 1, args["frames"]
add_rigify_dancer(scene, "Hero", (0.0, 0.0, 0.0))
add_camera(scene)
bpy.ops.wm.save_as_mainfile(filepath=args["blend"])
emit({"saved": args["blend"]})
