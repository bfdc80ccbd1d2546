"""Read the scene camera into CameraParams (the bpy half of camera.py)."""

from __future__ import annotations

import bpy

from ..errors import CameraError
from ..rig.camera import CameraParams


def camera_params(scene: bpy.types.Scene, cam_obj: bpy.types.Object | None = None) -> CameraParams:
    """Settings of ``cam_obj`` (default: the scene camera) at the current frame, checked for SCAIL."""
    cam = cam_obj if cam_obj is not None else scene.camera
    if cam is None:
        raise CameraError("the scene has no camera; use \"Camera from View\" in the SCAIL panel, or add a "
                          "camera and set it in Scene properties > Camera")
    if cam.type != "CAMERA":
        raise CameraError(f"'{cam.name}' is not a camera; pick a camera object")
    data = cam.data
    render = scene.render
    percent = render.resolution_percentage
    params = CameraParams(
        lens=float(data.lens),
        sensor_width=float(data.sensor_width),
        sensor_height=float(data.sensor_height),
        sensor_fit=data.sensor_fit,
        shift_x=float(data.shift_x),
        shift_y=float(data.shift_y),
        # Blender's own rounding of the percentage (integer division).
        res_x=render.resolution_x * percent // 100,
        res_y=render.resolution_y * percent // 100,
        pixel_aspect_x=float(render.pixel_aspect_x),
        pixel_aspect_y=float(render.pixel_aspect_y),
        type=data.type,
        matrix_world=tuple(tuple(float(v) for v in row) for row in cam.matrix_world),
    )
    params.check()
    return params
