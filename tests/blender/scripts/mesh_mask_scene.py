"""Characters crossing in depth, rendered to a pose video with its SCAIL-2 mask and, for the
same frames, by Cycles into its object-index pass (each character's meshes carry its pass
index, 1 + its place in the render's character order): all together, then each alone.

Cases: "two" (a Rigify character with an Armature-modifier body and a hat on its head bone,
a Mixamo-style one named mixamorig:* with an armature-parented body; landscape camera) and
"three" (the same two and a Rigify character without a mesh between them; portrait camera).
The near character walks left to right, the far one right to left, so they overlap half way
and have swapped sides by the last frame; the far one carries a board in front of the near one.

Parameters: ``out_dir``, ``case``, ``mode``, optional ``blend`` (save the scene there first),
optional ``driving`` "mesh" (the pose video drawn from the meshes; a skeleton render with its
mask goes to ``skeleton/`` beside it, and Cycles is not run).
"""

from pathlib import Path

import bpy

from scail_blender.blender.scene_render import plan_pose_render, render_pose_video

from tests.blender.scripts.common import emit, params
from tests.blender.scripts.rigs import build_armature
from tests.support.rig_skeletons import MIXAMO, skeleton
from tools.demo_scene import add_camera, add_rigify_dancer, box_body, empty_scene

FRAMES = (1, 5)
p = params()
out = Path(p["out_dir"])


def hat(scene, rig, bone: str) -> bpy.types.Object:
    """A cube parented to a bone (a prop): part of the character without deforming."""
    obj = bpy.data.objects.new(f"{rig.name}_hat", bpy.data.meshes.new(f"{rig.name}_hat"))
    s = 0.12
    obj.data.from_pydata([(x, y, z) for x in (-s, s) for y in (-s, s) for z in (-s, s)], [],
                         [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
    scene.collection.objects.link(obj)
    obj.parent, obj.parent_type, obj.parent_bone = rig, "BONE", bone
    return obj


def plate(scene, rig) -> bpy.types.Object:
    """A board carried 2.5 m in front of the character (parented to its armature object): it
    passes in front of a nearer character whose body is in front of this one's, so only a
    per-pixel depth test draws both right."""
    obj = bpy.data.objects.new(f"{rig.name}_board", bpy.data.meshes.new(f"{rig.name}_board"))
    obj.data.from_pydata([(-0.3, 0.0, -0.2), (0.3, 0.0, -0.2), (0.3, 0.0, 0.2), (-0.3, 0.0, 0.2)], [], [(0, 1, 2, 3)])
    scene.collection.objects.link(obj)
    obj.parent = rig
    obj.location = (0.0, -2.5, 1.2)
    return obj


def walk(obj, depth: float, x0: float, x1: float) -> None:
    for frame, x in zip(FRAMES, (x0, x1)):
        obj.location = (x, depth, 0.0)
        obj.keyframe_insert("location", frame=frame)


def mixamo(scene, name: str) -> bpy.types.Object:
    rig = build_armature(scene, name, skeleton({k: f"mixamorig:{v}" for k, v in MIXAMO.items()}))
    for bone_name, angle in (("mixamorig:LeftArm", 0.9), ("mixamorig:RightUpLeg", -0.6)):
        bone = rig.pose.bones[bone_name]
        bone.rotation_mode = "XYZ"
        for frame, sign in zip(FRAMES, (1.0, -1.0)):
            bone.rotation_euler = (sign * angle, 0.0, 0.0)
            bone.keyframe_insert("rotation_euler", frame=frame)
    return rig


scene = empty_scene()
scene.render.fps, scene.render.fps_base = 16, 1.0
scene.frame_start, scene.frame_end = FRAMES
near = add_rigify_dancer(scene, "Rigified", frames=FRAMES)
far = mixamo(scene, "Mixamo")
bodies = {near.name: [box_body(scene, near, modifier=True), hat(scene, near, "DEF-spine.006")],
          far.name: [box_body(scene, far, modifier=False), plate(scene, far)]}
spread = 1.0 if p["case"] == "two" else 0.7
walk(near, 0.0, -spread, spread)
walk(far, 2.0, spread, -spread)
start_x = {near.name: -spread, far.name: spread}
depth = {near.name: 0.0, far.name: 2.0}
if p["case"] == "three":
    bare = add_rigify_dancer(scene, "Bare", frames=FRAMES, phase=1.5)
    walk(bare, 1.0, 0.0, 0.0)
    start_x[bare.name], depth[bare.name] = 0.0, 1.0
camera = add_camera(scene)
size = (192, 320) if p["case"] == "two" else (320, 192)
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = size[1], size[0], 100

if p.get("blend"):  # the scene as a file, for `scail render-pose --blend`
    bpy.ops.wm.save_as_mainfile(filepath=p["blend"])
driving = p.get("driving", "skeleton")
plan = plan_pose_render(scene, out / "pose.mp4", size=size, fps=16, add_strip=False, joints_out=out / "joints.npz",
                        mask_out=out / "mask.mp4", mask_mode=p["mode"], driving=driving)
files = render_pose_video(plan)
if driving == "mesh":
    skeleton_plan = plan_pose_render(scene, out / "skeleton" / "pose.mp4", size=size, fps=16, add_strip=False,
                                     mask_out=out / "skeleton" / "mask.mp4", mask_mode=p["mode"])
    render_pose_video(skeleton_plan)
    emit({"frames": files.frames, "pose": str(files.video), "mask": str(files.mask),  # ends the script
          "skeleton_pose": str(out / "skeleton" / "pose.mp4"), "skeleton_mask": str(out / "skeleton" / "mask.mp4")})
names = [c.obj.name for c in plan.characters]
for index, name in enumerate(names):
    for obj in bodies.get(name, []):
        obj.pass_index = index + 1

scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 1
scene.cycles.use_adaptive_sampling = False
scene.cycles.use_denoising = False
scene.cycles.filter_width = 0.01
scene.view_layers[0].use_pass_object_index = True
settings = scene.render.image_settings
if hasattr(settings, "media_type"):  # 5.0 offers the multi-layer format under its own media type
    settings.media_type = "MULTI_LAYER_IMAGE"
settings.file_format = "OPEN_EXR_MULTILAYER"
settings.exr_codec, settings.color_depth = "NONE", "32"


def render(tag: str, shown: set[str]) -> list[str]:
    for name, objs in bodies.items():
        for obj in objs:
            obj.hide_render = name not in shown
    paths = []
    for frame in range(FRAMES[0], FRAMES[1] + 1):
        scene.frame_set(frame)
        scene.render.filepath = str(out / f"{tag}_{frame}.exr")
        bpy.ops.render.render(write_still=True)
        paths.append(scene.render.filepath)
    return paths


renders = {"all": render("all", set(bodies))}
renders.update({name: render(name, {name}) for name in bodies})
emit({"characters": names, "meshless": [n for n in names if n not in bodies], "depth": depth,
      "start_x": start_x, "frames": files.frames, "mask": str(files.mask), "renders": renders,
      "joints": str(out / "joints.npz")})
