"""Scenes for the demo, the benchmark and the Blender tests: Rigify dancers and a camera.

A generated Rigify rig is what most Blender animators use, so that is what the demo and the
tests drive: the deform bones (DEF-*) follow FK controls keyed with a short dance.
"""

from __future__ import annotations

import math

import bpy
from mathutils import Euler, Matrix, Vector

FK_CONTROLS = ("upper_arm_fk", "forearm_fk", "thigh_fk", "shin_fk")


def _enable_rigify() -> None:
    import addon_utils  # importable only once bpy is

    addon_utils.enable("rigify", default_set=True)
    import rigify

    # The bpy module skips Rigify's deferred parameter registration; do it now (idempotent).
    rigify.register_rig_parameters()


def add_rigify_dancer(scene: bpy.types.Scene, name: str, location=(0.0, 0.0, 0.0), phase: float = 0.0,
                      frames: tuple[int, int] = (1, 81), full: bool = False) -> bpy.types.Object:
    """Generate a Rigify human called ``name`` at ``location`` and key a dance on its FK controls.

    ``full`` uses the Human metarig (face and fingers, about 3 s to generate); the default
    Basic Human has body bones only and generates in a fraction of a second.
    """
    _enable_rigify()
    with bpy.context.temp_override(scene=scene):
        if full:
            bpy.ops.object.armature_human_metarig_add()
        else:
            bpy.ops.object.armature_basic_human_metarig_add()
        metarig = bpy.context.active_object
        bpy.ops.pose.rigify_generate()
        rig = bpy.context.active_object
    rig.name = name
    rig.location = location
    bpy.data.objects.remove(metarig)
    pose = rig.pose.bones
    for side in ("L", "R"):
        for parent in (f"upper_arm_parent.{side}", f"thigh_parent.{side}"):
            pose[parent]["IK_FK"] = 1.0  # follow the FK controls
        for control in FK_CONTROLS:
            pose[f"{control}.{side}"].rotation_mode = "XYZ"
    pose["torso"].rotation_mode = "XYZ"
    start, end = frames
    for frame in range(start, end + 1, 4):
        t = (frame - start) / 24.0 * 2 * math.pi * 0.75 + phase
        pose["torso"].location = (0.08 * math.sin(t), 0.0, 0.04 * math.cos(2 * t))
        pose["torso"].rotation_euler = Euler((0.0, 0.0, 0.35 * math.sin(t)))
        pose["torso"].keyframe_insert("location", frame=frame)
        pose["torso"].keyframe_insert("rotation_euler", frame=frame)
        for side, sign in (("L", 1.0), ("R", -1.0)):
            swing = math.sin(t + (0.0 if side == "L" else math.pi))
            lift = max(swing, 0.0)
            keys = {
                "upper_arm_fk": (1.1 * swing, 0.0, sign * (0.3 + 0.9 * (0.5 + 0.5 * math.cos(t)))),
                "forearm_fk": (0.6 + 0.9 * lift, 0.0, 0.0),
                "thigh_fk": (-0.9 * lift, 0.0, -sign * 0.08),
                "shin_fk": (1.3 * lift, 0.0, 0.0),
            }
            for control, rotation in keys.items():
                bone = pose[f"{control}.{side}"]
                bone.rotation_euler = Euler(rotation)
                bone.keyframe_insert("rotation_euler", frame=frame)
    return rig


def add_camera(scene: bpy.types.Scene, location=(0.0, -6.5, 1.1), target=(0.0, 0.0, 1.0),
               lens: float = 35.0) -> bpy.types.Object:
    """A perspective camera at ``location`` aimed at ``target``, made the scene camera."""
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = lens
    scene.collection.objects.link(camera)
    direction = Vector(target) - Vector(location)
    camera.matrix_world = Matrix.Translation(location) @ direction.to_track_quat("-Z", "Y").to_matrix().to_4x4()
    scene.camera = camera
    return camera


def empty_scene() -> bpy.types.Scene:
    """The factory scene without its cube, light and camera."""
    scene = bpy.context.scene
    for obj in list(scene.objects):
        bpy.data.objects.remove(obj)
    return scene


def box_body(scene: bpy.types.Scene, rig: bpy.types.Object, modifier: bool = True, thickness: float = 0.2,
             minimum: float = 0.05) -> bpy.types.Object:
    """A box around every deform bone, weighted to it: a stand-in for a skinned character that
    shows limbs in masks and mesh renders. Deformed through an Armature modifier, or (``modifier``
    False) through armature parenting, the two ways rigs drive their meshes."""
    verts, faces, groups = [], [], {}
    for bone in rig.data.bones:
        if not bone.use_deform:
            continue
        head, tail = Vector(bone.head_local), Vector(bone.tail_local)
        axis = tail - head
        width = max(thickness * axis.length, minimum)
        side = axis.orthogonal().normalized() * width
        other = axis.cross(side).normalized() * width
        base = len(verts)
        for end in (head, tail):
            verts.extend(end + a * side + b * other for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1)))
        faces.extend([(base, base + 1, base + 2, base + 3), (base + 4, base + 5, base + 6, base + 7)])
        faces.extend((base + k, base + (k + 1) % 4, base + 4 + (k + 1) % 4, base + 4 + k) for k in range(4))
        groups[bone.name] = list(range(base, base + 8))
    obj = bpy.data.objects.new(f"{rig.name}_body", bpy.data.meshes.new(f"{rig.name}_body"))
    obj.data.from_pydata([tuple(v) for v in verts], [], faces)
    scene.collection.objects.link(obj)
    for name, indices in groups.items():
        obj.vertex_groups.new(name=name).add(indices, 1.0, "REPLACE")
    obj.parent = rig
    if modifier:
        obj.modifiers.new("Armature", "ARMATURE").object = rig
    else:
        obj.parent_type = "ARMATURE"
    return obj
