"""What the rig scripts share: an empty factory scene, a camera, armatures built with edit
bones, Blender's projection next to ours, and errors reported as types and message."""

from __future__ import annotations

import math

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from scail_blender.blender.camera import camera_params
from scail_blender.rig.camera import intrinsics_from_camera, world_to_opencv


def fresh_scene() -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def add_camera(scene, location=(0.0, -6.0, 1.0), rotation=(math.pi / 2, 0.0, 0.0), **settings):
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = location, rotation
    for key, value in settings.items():
        setattr(cam.data, key, value)
    scene.camera = cam
    return cam


def build_armature(scene, name: str, bones: list[tuple]) -> bpy.types.Object:
    """An armature made with edit bones, as a user or an importer would."""
    obj = bpy.data.objects.new(name, bpy.data.armatures.new(name))
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, parent, head, tail in bones:
        edit = obj.data.edit_bones.new(bone_name)
        edit.head, edit.tail = head, tail
        if parent:
            edit.parent = obj.data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def blender_pixel(scene, cam, point) -> list[float]:
    """Blender's own projection, moved to pixel-centre coordinates (ours = Blender's - 0.5)."""
    v = world_to_camera_view(scene, cam, Vector(point))
    pct = scene.render.resolution_percentage / 100
    w, h = scene.render.resolution_x * pct, scene.render.resolution_y * pct
    return [v.x * w - 0.5, (1 - v.y) * h - 0.5]


def our_pixel(scene, cam, point) -> list[float]:
    params = camera_params(scene, cam)
    cam_point = world_to_opencv(params) @ np.append(point, 1.0)
    return intrinsics_from_camera(params).project(cam_point[:3]).tolist()


def error_of(call, *args, **kwargs) -> dict | None:
    """The error ``call(*args, **kwargs)`` raises: the names of its type and base classes (so a
    test can check it as ``pytest.raises`` would) and its message; None when it returns."""
    try:
        call(*args, **kwargs)
    except Exception as exc:  # the test checks the type by name
        return {"types": [cls.__name__ for cls in type(exc).__mro__], "message": str(exc)}
    return None
