"""What the Blender test scripts share: their one JSON argument, their one JSON line of
results, and the scenes they start from (built with the demo's own scene tools)."""

from __future__ import annotations

import atexit
import json
import os
import sys
from typing import Any

import bpy

from scail_blender.blender import compat
from tools.demo_scene import add_camera, add_rigify_dancer, empty_scene


def params() -> dict[str, Any]:
    """The script's parameters: one JSON object on the command line (none means no parameters)."""
    return json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}


def emit(result: Any) -> None:
    """Print the results as the last line of stdout, where ``run_script`` reads them, and end the script.

    The bpy modules 4.2-4.3 crash (SIGSEGV) and 4.5 hangs in their C++ exit handlers once a class
    with Python callbacks was registered: Blender's static destructors call into the finalized
    interpreter (Blender the application tears down before that and is not affected). So the
    script runs every Python exit handler (the add-on's, then Blender's own ``WM_exit``) and ends
    the process itself, the same way on every version; ``emit`` is each script's last statement.
    """
    print(json.dumps(result), flush=True)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def add_body(rig: bpy.types.Object) -> bpy.types.Object:
    """A cylinder for a body, riding on the rig (armature parenting, as a skinned mesh would)."""
    bpy.ops.mesh.primitive_cylinder_add(radius=0.28, depth=1.8, location=(0.0, 0.0, 0.9))
    mesh = bpy.context.active_object
    mesh.name = f"{rig.name}Body"
    mesh.parent = rig  # identity parent inverse: the body stands where the rig stands
    mesh.parent_type = "ARMATURE"
    return mesh


def bodies_scene(people: int = 2) -> tuple[bpy.types.Scene, list[bpy.types.Object]]:
    """Rigify dancers with cylinder bodies (Hero left, Extra right and behind) over frames 1-20 at
    24 fps, a floor and a sun, filmed by a camera from the front; on frame 7."""
    scene = empty_scene()
    scene.render.fps = 24
    scene.frame_start, scene.frame_end = 1, 20
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    scene.eevee.taa_render_samples = 1
    rigs = [add_rigify_dancer(scene, "Hero", (-0.8, 0.0, 0.0), frames=(1, 20))]
    if people > 1:
        rigs.append(add_rigify_dancer(scene, "Extra", (0.9, 0.6, 0.0), phase=2.0, frames=(1, 20)))
    for rig in rigs:
        add_body(rig)
    bpy.ops.mesh.primitive_plane_add(size=20)  # a floor: in the scene, never in the reference
    lamp = bpy.data.objects.new("Lamp", bpy.data.lights.new("Lamp", "SUN"))
    scene.collection.objects.link(lamp)
    add_camera(scene)
    scene.frame_set(7)
    return scene, rigs


def addon_scene() -> tuple[bpy.types.Scene, bpy.types.Object, bpy.types.Area]:
    """The add-on registered, a Rigify dancer over frames 1-5, and the 3D viewport's area."""
    import scail_blender

    scail_blender.register()
    scene = empty_scene()
    scene.frame_start, scene.frame_end = 1, 5
    rig = add_rigify_dancer(scene, "Dancer")
    area = next(a for a in bpy.context.screen.areas if a.type == "VIEW_3D")
    return scene, rig, area


def dancer_scene() -> tuple[bpy.types.Scene, list[bpy.types.Object], bpy.types.Object]:
    """A dancer filmed by a camera at 24 fps over frames 10-22, standing on frame 15."""
    scene = empty_scene()
    scene.render.fps = 24
    scene.frame_start, scene.frame_end = 10, 22
    rigs = [add_rigify_dancer(scene, "Dancer", (0.0, 0.0, 0.0))]
    camera = add_camera(scene)
    scene.frame_set(15)
    return scene, rigs, camera


def scene_state(scene: bpy.types.Scene) -> dict[str, Any]:
    """What a refused or cancelled render must leave as it found it."""
    editor = scene.sequence_editor
    strips = sorted((s.name, s.channel, s.frame_final_start) for s in compat.strips(editor)) if editor else []
    return {"frame": scene.frame_current, "objects": sorted(o.name for o in scene.objects), "strips": strips,
            "camera": scene.camera.name if scene.camera else None, "fps": scene.render.fps,
            "res": [scene.render.resolution_x, scene.render.resolution_y],
            "images": sorted(i.name for i in bpy.data.images)}


def motion_scene() -> bpy.types.Scene:
    """An empty factory scene at 16 fps with the Import / Export Motion operators registered."""
    from scail_blender.operators import motion_io

    bpy.ops.wm.read_factory_settings(use_empty=True)
    for cls in motion_io.CLASSES:
        bpy.utils.register_class(cls)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 16, 1.0
    return scene
