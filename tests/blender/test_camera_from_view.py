"""Camera from View: the camera sees what the viewport sees (checked by projecting points with
Blender's own world_to_camera_view), and an orthographic view is refused."""

from __future__ import annotations

import json

import pytest

from tests.support import run_python

PROBE = """
import json, math, bpy
from mathutils import Matrix, Vector
from bpy_extras.object_utils import world_to_camera_view
from scail_blender.errors import CameraError
from scail_blender.operators.camera import camera_from_view

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
VIEW, SIZE = {view}, {size}
cam = camera_from_view(scene, space, VIEW, SIZE)
tan_long = 36.0 / space.lens  # Blender's viewport: 72 mm sensor equivalent on the longer side
tan_x, tan_y = (tan_long, tan_long * VIEW[1] / VIEW[0]) if VIEW[0] >= VIEW[1] else (tan_long * VIEW[0] / VIEW[1], tan_long)
def project(x, y, d=5.0):
    p = view_to_world @ Vector((x * d, y * d, -d))
    return list(world_to_camera_view(scene, cam, p))[:2]
out = {{"created": cam.name, "res": [scene.render.resolution_x, scene.render.resolution_y],
       "centre": project(0, 0), "right": project(tan_x, 0), "top": project(0, tan_y)}}
space.region_3d.view_perspective = "ORTHO"
try:
    camera_from_view(scene, space, VIEW, SIZE)
except CameraError as exc:
    out["ortho"] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    ("view", "size", "fitted"),
    [((1600, 900), (512, 896), "top"),    # a slightly narrower frame fits the viewport's height
     ((1600, 900), (896, 512), "top"),    # portrait output in a landscape viewport
     ((700, 1200), (512, 896), "right")],  # landscape output in a tall viewport fits its width
)
def test_camera_matches_viewport(view: tuple[int, int], size: tuple[int, int], fitted: str) -> None:
    out = json.loads(run_python(PROBE.format(view=view, size=size)).stdout.strip().splitlines()[-1])
    assert out["created"] == "SCAIL Camera"
    assert out["res"] == [size[1], size[0]]
    assert out["centre"] == pytest.approx([0.5, 0.5], abs=1e-5)
    # the matched side's viewport edge is exactly the camera frame's edge; the other lies outside
    if fitted == "top":
        assert out["top"][1] == pytest.approx(1.0, abs=1e-4)
        assert out["right"][0] >= 1.0 - 1e-4
    else:
        assert out["right"][0] == pytest.approx(1.0, abs=1e-4)
        assert out["top"][1] >= 1.0 - 1e-4
    assert "Numpad 5" in out["ortho"]
