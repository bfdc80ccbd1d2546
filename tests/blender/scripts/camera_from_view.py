"""Camera from View on a perspective viewport: project points along the view's centre and its
edges with Blender's own world_to_camera_view; then try an orthographic view.

Parameters: ``view`` (the viewport's width, height) and ``size`` (the output's height, width).
"""

import math

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Matrix, Vector

from scail_blender.errors import CameraError
from scail_blender.operators.camera import camera_from_view

from tests.blender.scripts.common import emit, params

p = params()
VIEW, SIZE = tuple(p["view"]), tuple(p["size"])
scene = bpy.context.scene
for obj in [o for o in scene.objects if o.type == "CAMERA"]:
    bpy.data.objects.remove(obj)
area = next(a for a in bpy.data.screens["Layout"].areas if a.type == "VIEW_3D")
space = area.spaces.active
space.lens = 40.0
view_rot = Matrix.Rotation(math.radians(70), 4, "X") @ Matrix.Rotation(math.radians(20), 4, "Y")
view_to_world = Matrix.Translation((1.0, -6.0, 1.5)) @ view_rot
space.region_3d.view_perspective = "PERSP"
space.region_3d.view_matrix = view_to_world.inverted()
view_to_world = space.region_3d.view_matrix.inverted()  # as Blender stored it
cam = camera_from_view(scene, space, VIEW, SIZE)
tan_long = 36.0 / space.lens  # Blender's viewport: 72 mm sensor equivalent on the longer side
if VIEW[0] >= VIEW[1]:
    tan_x, tan_y = tan_long, tan_long * VIEW[1] / VIEW[0]
else:
    tan_x, tan_y = tan_long * VIEW[0] / VIEW[1], tan_long


def project(x, y, d=5.0):
    p = view_to_world @ Vector((x * d, y * d, -d))
    return list(world_to_camera_view(scene, cam, p))[:2]


out = {"created": cam.name, "res": [scene.render.resolution_x, scene.render.resolution_y],
       "centre": project(0, 0), "right": project(tan_x, 0), "top": project(0, tan_y)}
space.region_3d.view_perspective = "ORTHO"
try:
    camera_from_view(scene, space, VIEW, SIZE)
except CameraError as exc:
    out["ortho"] = str(exc)
emit(out)
