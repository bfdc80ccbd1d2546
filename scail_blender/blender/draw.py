"""Viewport overlay: the SCAIL skeleton drawn over every mapped character.

Drawing happens only in a window (never in background mode), and the gpu module is imported
inside the callback, so registering costs nothing and works headless. The handle returned by
Blender is the one piece of module state: it is needed to remove the handler again.
"""

from __future__ import annotations

import bpy

_handle = None


def _limb_lines(scene: bpy.types.Scene) -> tuple[list, list]:
    """World-space line segments and colours of every enabled, mapped character's skeleton."""
    import json

    import numpy as np

    from ..errors import ScailError
    from ..pose.skeleton import LIMBS, palettes_for, smpl_to_scail
    from .armature import check_bonemap, sample_pose
    from ..rig.bonemap import BoneMap

    people = []
    for entry in scene.scail.characters:
        if entry.enabled and entry.bonemap_json and entry.armature:
            try:
                bonemap = BoneMap.from_dict(json.loads(entry.bonemap_json))
                check_bonemap(entry.armature, bonemap)
            except ScailError:
                continue  # bones renamed since the last mapping: the panel says to map again
            people.append(smpl_to_scail(sample_pose(entry.armature, bonemap)[:24]))
    coords, colors = [], []
    for joints, palette in zip(people, palettes_for(len(people), "preview")):
        for limb, (a, b) in enumerate(LIMBS):
            if np.isfinite(joints[a]).all() and np.isfinite(joints[b]).all():
                rgba = (*(palette[limb] / 255.0), 1.0)
                coords += [tuple(joints[a]), tuple(joints[b])]
                colors += [rgba, rgba]
    return coords, colors


def draw_skeletons() -> None:
    context = bpy.context
    scene = context.scene
    if scene is None or not hasattr(scene, "scail") or not scene.scail.show_skeleton:
        return
    coords, colors = _limb_lines(scene)
    if not coords:
        return
    import gpu
    from gpu_extras.batch import batch_for_shader

    shader = gpu.shader.from_builtin("POLYLINE_SMOOTH_COLOR")
    shader.uniform_float("viewportSize", gpu.state.viewport_get()[2:])
    shader.uniform_float("lineWidth", 4.0)
    batch = batch_for_shader(shader, "LINES", {"pos": coords, "color": colors})
    gpu.state.depth_test_set("NONE")
    gpu.state.blend_set("ALPHA")
    batch.draw(shader)
    gpu.state.blend_set("NONE")


def register() -> None:
    global _handle
    _handle = bpy.types.SpaceView3D.draw_handler_add(draw_skeletons, (), "WINDOW", "POST_VIEW")


def unregister() -> None:
    global _handle
    if _handle is not None:
        bpy.types.SpaceView3D.draw_handler_remove(_handle, "WINDOW")
        _handle = None
