"""A real Rigify scene (issue 10 points 1-3 and bad input): a generated rig with its metarig
kept (and mapped again under generic names), a skinned mesh, an animation-only copy, armatures
hidden in several ways, a portrait camera. Checks the default characters and their reasons, the camera framing against Blender's
own projection for every sensor fit, shift and pixel aspect, the command line's report and
defaults, and the refusals. Prints one JSON line."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from scail_blender.blender.armature import bone_infos, sample_pose
from scail_blender.blender.characters import choose_characters
from scail_blender.blender.scene_motion import ClipExtractor
from scail_blender.blender.scene_render import plan_pose_render, render_pose_video
from scail_blender.errors import ScailError
from scail_blender.rig.automap import auto_map
from scail_blender.rig.bonemap import REQUIRED
from scail_blender.rig.bones import BoneInfo
from tests.support.rig_skeletons import rest_points
from tools.demo_scene import _enable_rigify, add_camera, empty_scene

out = Path(sys.argv[1])
result: dict = {}
scene = empty_scene()
scene.frame_start, scene.frame_end = 1, 9
_enable_rigify()
bpy.ops.object.armature_human_metarig_add()
metarig = bpy.context.active_object
metarig.name = "metarig"
bpy.ops.pose.rigify_generate()
hero = bpy.context.active_object
hero.name = "Hero"
pose = hero.pose.bones
for side in ("L", "R"):
    pose[f"upper_arm_parent.{side}"]["IK_FK"] = 1.0
    pose[f"upper_arm_fk.{side}"].rotation_mode = "XYZ"
for frame, angle in ((1, 0.0), (9, 0.9)):
    pose["upper_arm_fk.L"].rotation_euler = (angle, 0.0, 0.0)
    pose["upper_arm_fk.L"].keyframe_insert("rotation_euler", frame=frame)
# A skinned mesh on the generated rig: a box around the head weighted to its head bone.
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.11, location=hero.matrix_world @ hero.data.bones["DEF-spine.006"].head_local + Vector((0, 0, 0.12)))
head_mesh = bpy.context.active_object
group = head_mesh.vertex_groups.new(name="DEF-spine.006")
group.add(list(range(len(head_mesh.data.vertices))), 1.0, "REPLACE")
head_mesh.modifiers.new("Armature", "ARMATURE").object = hero
# An animation-only import of the same character: no mesh, same action.
copy = hero.copy()
copy.name = "HeroAnim"
scene.collection.objects.link(copy)
# Armatures the user does not see, each hidden another way.
for name, how in (("NoRender", "hide_render"), ("Excluded", "exclude"), ("Hidden", "hide")):
    extra = hero.copy()
    extra.animation_data_clear()
    extra.name = name
    extra.location.x = 3.0
    if how == "exclude":
        collection = bpy.data.collections.new("Props")
        scene.collection.children.link(collection)
        collection.objects.link(extra)
        bpy.context.view_layer.layer_collection.children["Props"].exclude = True
    else:
        scene.collection.objects.link(extra)
        if how == "hide_render":
            extra.hide_render = True
        else:
            extra.hide_set(True)
camera = add_camera(scene, location=(0.4, -5.0, 1.2), target=(0.0, 0.0, 1.0), lens=40.0)
scene.render.resolution_x, scene.render.resolution_y = 512, 896  # portrait
bpy.context.view_layer.update()

# The metarig again with exporter-generic names (Bone, Bone.001, ...): by structure alone, it must
# land on the joints its Rigify names give (palm bones, face bones and heels included).
named = bone_infos(metarig)
generic = {b.name: "Bone" if i == 0 else f"Bone.{i:03d}" for i, b in enumerate(named)}
renamed = [BoneInfo(generic[b.name], generic.get(b.parent) if b.parent else None, b.head, b.tail, b.use_deform,
                    b.matrix) for b in named]
by_name, _ = auto_map(named)
by_structure, structure_report = auto_map(renamed)
a, b = rest_points(named, by_name), rest_points(renamed, by_structure)
result["generic_metarig"] = {
    "preset": structure_report.preset, "ok": structure_report.ok,
    "body": float(np.nanmax(np.linalg.norm(a[list(REQUIRED)] - b[list(REQUIRED)], axis=1))),
    "hands": float(np.nanmax(np.linalg.norm(a[24:66] - b[24:66], axis=1))),
    "face": float(np.nanmax(np.linalg.norm(a[66:] - b[66:], axis=1))),
}

choice = choose_characters(scene)
result["used"] = [c.obj.name for c in choice.used]
result["skipped"] = dict(choice.skipped)
metarig.hide_set(True)
result["skipped_hidden_metarig"] = dict(choose_characters(scene).skipped)["metarig"]
result["report_lines"] = choice.lines()

# Framing: projected joints against Blender's own projection at the pose size.
character = choice.used[0]
scene.frame_set(1)
points = sample_pose(hero, character.bonemap)[list(REQUIRED)]
errors = {}
for fit in ("AUTO", "HORIZONTAL", "VERTICAL"):
    for shift in ((0.0, 0.0), (0.08, -0.05)):
        for aspect in ((1.0, 1.0), (1.0, 1.3), (1.4, 1.0)):
            for res, size in (((512, 896), (512, 896)), ((512, 896), (896, 512)), ((640, 640), (512, 896)),
                              ((896, 512), (640, 640))):
                camera.data.sensor_fit = fit
                camera.data.shift_x, camera.data.shift_y = shift
                scene.render.pixel_aspect_x, scene.render.pixel_aspect_y = aspect
                scene.render.resolution_x, scene.render.resolution_y = res
                extractor = ClipExtractor(scene, [character], camera, [1.0], size=size, framing="sensor")
                motion = extractor.run()
                k = motion.intrinsics
                px = k.project(motion.joints[0, 0][list(REQUIRED)])
                scene.render.resolution_y, scene.render.resolution_x = size
                ndc = np.array([tuple(world_to_camera_view(scene, camera, Vector(p)))[:2] for p in points])
                blender = np.stack([ndc[:, 0] * size[1] - 0.5, (1 - ndc[:, 1]) * size[0] - 0.5], 1)
                key = f"{fit} shift{shift} aspect{aspect} {res}->{size}"
                errors[key] = float(np.abs(px - blender).max())
                ratio = scene.render.pixel_aspect_y / scene.render.pixel_aspect_x
                assert math.isclose(k.fx, k.fy * ratio, rel_tol=1e-12), key
result["max_px_error"] = max(errors.values())
result["worst"] = max(errors, key=errors.get)
result["bad"] = {k: v for k, v in errors.items() if v > 1e-3}
camera.data.sensor_fit, camera.data.shift_x, camera.data.shift_y = "AUTO", 0.0, 0.0
scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
scene.render.resolution_x, scene.render.resolution_y = 512, 896

# Bad input: nothing written, a message that says what to do.
refusals = {}
target = out / "bad.mp4"
camera_at = camera.matrix_world.copy()
camera.location = hero.matrix_world @ hero.data.bones["DEF-spine.003"].head_local
for label, call in (
    ("camera inside", lambda: render_pose_video(plan_pose_render(scene, target, characters=["Hero"], add_strip=False,
                                                                 frame_range=(1, 2)))),
    ("size", lambda: plan_pose_render(scene, target, characters=["Hero"], size=(500, 896))),
):
    try:
        call()
        refusals[label] = "accepted"
    except ScailError as exc:
        refusals[label] = str(exc)
camera.matrix_world = camera_at
hero.scale = (0.0, 0.0, 0.0)
bpy.context.view_layer.update()
try:
    plan_pose_render(scene, target, characters=["Hero"])
    refusals["zero scale"] = "accepted"
except ScailError as exc:
    refusals["zero scale"] = str(exc)
hero.scale = (1.0, 1.0, 1.0)
result["refusals"] = refusals
result["bad_written"] = target.exists()
metarig.hide_set(False)

# The command line on the saved file: default size follows the portrait camera, the report
# names the characters used and skipped, the .blend stays as it was.
blend = out / "scene.blend"
bpy.ops.wm.save_as_mainfile(filepath=str(blend))
digest = hashlib.sha256(blend.read_bytes()).hexdigest()
proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", "--blend", str(blend),
                       "--frame-range", "1:3", "--out", str(out / "pose.mp4"), "--joints-out", str(out / "j.npz")],
                      capture_output=True, text=True)
result["cli_rc"], result["cli_stdout"], result["cli_stderr"] = proc.returncode, proc.stdout, proc.stderr
result["blend_unchanged"] = hashlib.sha256(blend.read_bytes()).hexdigest() == digest
if proc.returncode == 0:
    npz = np.load(out / "j.npz")
    result["cli_size"] = [int(v) for v in npz["image_size"]]
    result["cli_people"] = [str(p) for p in npz["person_ids"]]
    result["cli_source"] = str(npz["source"])
print(json.dumps(result))
