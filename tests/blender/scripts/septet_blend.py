"""Save a .blend with seven Rigify dancers with cylinder bodies in a row (meshes riding on their
rigs), filmed by one camera over frames 1-6 at 24 fps, for the seven-character MultiAnimate
command line test to open. One dancer is generated and duplicated with its body (Rigify's
generation is the slow part), and the copies are placed in a shuffled order, so the file's order
is not left to right.

Parameters: ``blend``, where to save it.
"""

import bpy

from tests.blender.scripts.common import add_body, add_camera, add_rigify_dancer, emit, empty_scene, params

blend = params()["blend"]
scene = empty_scene()
scene.render.fps = 24
scene.frame_start, scene.frame_end = 1, 6
first = add_rigify_dancer(scene, "Dancer0", (0.0, 0.0, 0.0), frames=(1, 6))
body = add_body(first)
rigs = [first]
for k, x in enumerate((-2.1, 2.1, -1.05, 3.15, 1.05, -3.15), start=1):
    bpy.ops.object.select_all(action="DESELECT")
    first.select_set(True)
    body.select_set(True)
    bpy.context.view_layer.objects.active = first
    bpy.ops.object.duplicate()  # the copy's body follows the copy's rig
    rig = next(o for o in bpy.context.selected_objects if o.type == "ARMATURE")
    rig.name, rig.location.x = f"Dancer{k}", x
    rigs.append(rig)
add_camera(scene, location=(0.0, -10.0, 1.1))
bpy.ops.wm.save_as_mainfile(filepath=blend)
emit({"saved": blend, "characters": [rig.name for rig in rigs],
      "bodies": sorted(o.parent.name for o in scene.objects if o.type == "MESH" and o.parent is not None)})
