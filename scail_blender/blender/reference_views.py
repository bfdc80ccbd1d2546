"""SCAIL-2 extra reference views: turntable cameras around the characters, each rendered as an
extra reference with its mask.

SCAIL-2 takes extra reference images of the same characters (their side and back, say) with
masks in the same identity colours. A turntable camera keeps the pose camera's distance, height
and lens and turns around the vertical axis through the characters' centre by the view's angle:
``front`` looks from where the pose camera does, ``side`` a quarter turn on, ``back`` half a turn.
The cameras are ordinary scene objects in the ``SCAIL Views`` collection (made again in place on
each run), so the user can move them and render again. Colours stay those of the first driving
frame whatever the view shows, so a character seen from behind keeps its colour.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..errors import InputError
from .reference_render import ReferenceRender, character_geometry, render_reference

VIEWS = {"front": 0.0, "side": 90.0, "back": 180.0}
COLLECTION = "SCAIL Views"


def view_camera_name(view: str) -> str:
    return f"SCAIL {view.title()} View"


def characters_centre(scene: bpy.types.Scene, armatures: list[bpy.types.Object]) -> Vector:
    """The centre of the world bounding box of the characters' geometry at the current frame."""
    corners = [obj.matrix_world @ Vector(corner) for armature in armatures
               for obj in character_geometry(scene, armature) for corner in obj.bound_box]
    if not corners:
        raise InputError("the characters have no mesh to turn the views around; parent or skin a mesh to them")
    points = np.array([tuple(c) for c in corners])
    return Vector(((points.min(axis=0) + points.max(axis=0)) / 2).tolist())


def turntable_cameras(scene: bpy.types.Scene, armatures: list[bpy.types.Object], pose_camera: bpy.types.Object,
                      views: list[str]) -> list[bpy.types.Object]:
    """A camera per view around the characters (see the module docstring), made or updated."""
    unknown = [v for v in views if v not in VIEWS]
    if unknown or not views:
        raise InputError(f"unknown views {', '.join(unknown) or '(none given)'}: use {', '.join(VIEWS)}")
    centre = characters_centre(scene, armatures)
    offset = pose_camera.matrix_world.translation - centre
    collection = bpy.data.collections.get(COLLECTION) or bpy.data.collections.new(COLLECTION)
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    cameras = []
    for view in views:
        name = view_camera_name(view)
        camera = bpy.data.objects.get(name)
        if camera is None or camera.type != "CAMERA":
            camera = bpy.data.objects.new(name, pose_camera.data.copy())
        if camera.name not in collection.objects:
            collection.objects.link(camera)
        turned = Matrix.Rotation(math.radians(VIEWS[view]), 4, "Z") @ offset
        location = centre + turned.to_3d()
        aim = (centre - location).to_track_quat("-Z", "Y").to_matrix().to_4x4()
        camera.matrix_world = Matrix.Translation(location) @ aim
        cameras.append(camera)
    return cameras


def render_views(plan: ReferenceRender, views: list[str]) -> list[tuple[Path, Path]]:
    """Render each view as an extra reference beside ``plan.image``: STEM_VIEW.png and
    STEM_VIEW_mask.png, with ``plan``'s characters, frame, size, engine, mode and colours."""
    armatures = [c.obj for c in plan.characters]
    current = plan.scene.frame_current
    plan.scene.frame_set(plan.frame)
    try:
        cameras = turntable_cameras(plan.scene, armatures, plan.camera, views)
    finally:
        plan.scene.frame_set(current)
    out = []
    for view, camera in zip(views, cameras):
        stem = plan.image.with_suffix("").name
        image = plan.image.with_name(f"{stem}_{view}.png")
        mask = plan.image.with_name(f"{stem}_{view}_mask.png")
        done = render_reference(dataclasses.replace(plan, camera=camera, image=image, mask=mask, notes=[]))
        plan.notes.extend(done.notes)
        out.append((image, mask))
    return out
