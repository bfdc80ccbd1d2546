"""Save a .blend with three Rigify dancers with cylinder bodies (meshes riding on their rigs):
Hero on the left, Third in the middle and in front, Extra on the right and behind, filmed by one
camera over frames 1-20 at 24 fps, for the MultiAnimate command line tests to open.

Parameters: ``blend``, where to save it.
"""

import bpy

from tests.blender.scripts.common import add_body, add_camera, add_rigify_dancer, emit, empty_scene, params

blend = params()["blend"]
scene = empty_scene()
scene.render.fps = 24
scene.frame_start, scene.frame_end = 1, 20
rigs = [add_rigify_dancer(scene, "Hero", (-1.3, 0.0, 0.0), frames=(1, 20)),
        add_rigify_dancer(scene, "Third", (0.0, -0.4, 0.0), phase=1.0, frames=(1, 20)),
        add_rigify_dancer(scene, "Extra", (1.4, 0.6, 0.0), phase=2.0, frames=(1, 20))]
for rig in rigs:
    add_body(rig)
add_camera(scene)
bpy.ops.wm.save_as_mainfile(filepath=blend)
emit({"saved": blend, "characters": [rig.name for rig in rigs]})
