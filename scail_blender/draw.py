"""Viewport overlay: the SCAIL skeleton drawn over every mapped character.

Drawing happens only in a window (never in background mode), and the gpu module is imported
inside the callback, so registering costs nothing and works headless. The handle returned by
Blender is the one piece of module state: it is needed to remove the handler again.
"""

from __future__ import annotations

import bpy

_handle = None


def _limb_lines(scene: bpy.types.Scene) -> tuple[list, list]:
    from .characters import overrides_of
    from .pose.skeleton import LIMBS, palettes_for, smpl_to_scail
    from .rig.armature import sample_pose
    from .characters import bonemap_for
    from .errors import ScailError

    people = []
    for character in scene.scail.characters:
        if not (character.enabled and character.mapped and character.armature):
            continue
        try:
            people.append(smpl_to_scail(sample_pose(character.armature, bonemap_for(character.armature,
                                                                                   overrides_of(character)))))
        except ScailError:
            continue
    coords, colors = [], []
    for joints, palette in zip(people, palettes_for(len(people), "preview")):
        for limb, (a, b) in enumerate(LIMBS):
            coords += [tuple(joints[a]), tuple(joints[b])]
            rgb = tuple(c / 255.0 for c in palette[limb])
            colors += [(*rgb, 1.0), (*rgb, 1.0)]
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
