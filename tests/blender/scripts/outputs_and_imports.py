"""Blender side of issue 9, in the real bpy module: failed imports leave the scene (camera
included) as it was, Export Motion goes through the output policy, a camera that sees nobody is
an error and not a black video, preferences that do nothing are not drawn, size presets read
height x width. Prints one JSON line of findings for tests/blender/test_outputs_blender.py."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import bpy
import numpy as np

from scail_blender.blender import build_rig, prefs, props
from scail_blender.blender.scene_render import plan_pose_render, render_pose_video
from scail_blender.errors import InputError, ScailError
from scail_blender.motion.model import Motion, save_motion_npz
from scail_blender.operators import motion_io
from tests.blender.scripts.common import emit
from tests.support.motion_fixtures import walking

tmp = Path(sys.argv[1])
bpy.ops.wm.read_factory_settings(use_empty=True)
for cls in motion_io.CLASSES:
    bpy.utils.register_class(cls)
scene = bpy.context.scene
keep = bpy.data.objects.new("Keep", bpy.data.cameras.new("Keep"))
scene.collection.objects.link(keep)
scene.camera = keep
scene.render.resolution_x, scene.render.resolution_y = 640, 360


def state() -> list:
    return [len(bpy.data.objects), len(bpy.data.armatures), len(bpy.data.cameras), len(bpy.data.actions),
            scene.camera.name, scene.render.resolution_x, scene.render.resolution_y, scene.frame_end]


def import_motion(path: Path) -> str:
    try:
        return str(bpy.ops.scail.import_motion(filepath=str(path)))
    except RuntimeError as exc:  # background Blender raises the operator's error report
        return str(exc)


found: dict = {}
before = state()
save_motion_npz(Motion(joints=np.zeros((4, 1, 24, 3), np.float32)), tmp / "nobody.npz")
found["nobody"] = import_motion(tmp / "nobody.npz")
found["nobody_unchanged"] = state() == before

huge = walking(frames=4).joints.copy()
huge[2, 0, 7] = 1e30
np.savez(tmp / "huge.npz", joints3d_nonparam=huge)
found["huge"] = import_motion(tmp / "huge.npz")
found["huge_unchanged"] = state() == before

save_motion_npz(walking(frames=4), tmp / "walk.npz")
real_camera = build_rig._camera


def broken_camera(*args, **kwargs):
    raise InputError("the camera could not be made (on purpose, after the armatures)")


build_rig._camera = broken_camera
found["broken"] = import_motion(tmp / "walk.npz")
found["broken_unchanged"] = state() == before
build_rig._camera = real_camera

found["good"] = import_motion(tmp / "walk.npz")
armature = next(o for o in scene.objects if o.type == "ARMATURE")

# Export into a folder nobody can write, and onto the very file being read.
for obj in scene.objects:
    obj.select_set(obj == armature)
bpy.context.view_layer.objects.active = armature
for name, target in (("export_unwritable", "/proc/scail-test/out.glb"), ("export_folder", str(tmp))):
    try:
        found[name] = str(bpy.ops.scail.export_motion(filepath=target, file_format="GLB"))
    except RuntimeError as exc:
        found[name] = str(exc)

# The imported camera turned around: the rig is behind it, so the render is refused.
scene.camera.rotation_euler.rotate_axis("Y", math.pi)
try:
    render_pose_video(plan_pose_render(scene, tmp / "away.mp4", characters=[armature.name], size=(128, 224)))
    found["away"] = "rendered"
except ScailError as exc:
    found["away"] = str(exc)
found["away_files"] = sorted(p.name for p in tmp.iterdir() if "away" in p.name or p.name.startswith("."))


class Layout:
    def __init__(self, drawn: list) -> None:
        self.drawn, self.use_property_split = drawn, False

    def column(self, **kwargs):
        return self

    row = column

    def prop(self, data, name, **kwargs) -> None:
        self.drawn.append(name)

    def label(self, **kwargs) -> None:
        self.drawn.append("label")

    def operator(self, idname, **kwargs) -> None:
        self.drawn.append(idname)


class Host:
    backend = "SERVER"
    models_dir = ""

    def __init__(self) -> None:
        self.drawn: list = []
        self.layout = Layout(self.drawn)


host = Host()
prefs.ScailPreferences.draw(host, bpy.context)
found["preferences"] = host.drawn
props.ensure_registered()
found["presets"] = [item.name for item in scene.scail.bl_rna.properties["size_preset"].enum_items]
emit(found)
