"""Import a truncated GLB; report the operator's error and the scene's data blocks before and after.

Parameters: ``glb``, where to write the damaged file.
"""

from pathlib import Path

import bpy

from tests.blender.scripts.common import emit, motion_scene, params


def counts(scene):
    return [len(bpy.data.objects), len(bpy.data.armatures), len(bpy.data.cameras), len(bpy.data.actions),
            scene.camera.name if scene.camera else None]


glb = params()["glb"]
scene = motion_scene()
Path(glb).write_bytes(b"glTF" + b"\x02\x00\x00\x00" + b"\xff" * 8)
before = counts(scene)
try:
    bpy.ops.scail.import_motion(filepath=glb)
    error = None
except RuntimeError as exc:  # background Blender raises the operator's error report
    error = str(exc)
emit({"error": error, "before": before, "after": counts(scene)})
