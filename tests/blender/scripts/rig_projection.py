"""Project three world points through cameras with various sensor fits, shifts, pixel aspects
and resolutions, by our camera maths and by Blender's; report both per case.

Parameters: ``cases``, a list of [camera data settings, render settings].
"""

import math

import bpy

from tests.blender.scripts.common import emit, params
from tests.blender.scripts.rigs import add_camera, blender_pixel, fresh_scene, our_pixel

POINTS = [(0.0, 0.0, 1.0), (0.8, 1.0, 0.2), (-1.2, 2.0, 2.5)]
results = []
for settings, render in params()["cases"]:
    scene = fresh_scene()
    scene.render.resolution_x, scene.render.resolution_y = 896, 512
    for key, value in render.items():
        setattr(scene.render, key, value)
    cam = add_camera(scene, location=(0.7, -5.0, 1.4), rotation=(math.radians(80), 0.1, 0.3), **settings)
    cam.scale = (2.0, 2.0, 2.0)
    bpy.context.view_layer.update()
    results.append({"ours": [our_pixel(scene, cam, p) for p in POINTS],
                    "blender": [blender_pixel(scene, cam, p) for p in POINTS]})
emit(results)
