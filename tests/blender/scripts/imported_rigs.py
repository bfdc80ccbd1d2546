"""Rigs as they come out of importers (issue 10 points 3-5): a humanoid with exporter-generic
bone names (Bone, Bone.001, ...), built in centimetres at object scale 0.01 with a skinned
head, written with Blender's glTF exporter and read back with its importer, which makes the
bones up to 100x too long. Checks the structure mapping against the skeleton it was built
from, the capped fingertips, the face from the head mesh, and render-pose --bonemap on the
saved scene. Prints one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np

from scail_blender.blender.armature import map_armature, rest_points_world
from scail_blender.pose.skeleton import SMPL_JOINT_NAMES
from scail_blender.rig.bonemap import REQUIRED, save_bonemap
from tests.support.rig_skeletons import BODY, MIXAMO, skeleton
from tools.demo_scene import add_camera, empty_scene

out = Path(sys.argv[1])
result: dict = {}
scene = empty_scene()
bones = skeleton(MIXAMO, fingers=True, scale=100.0)
generic = {name: "Bone" if i == 0 else f"Bone.{i:03d}" for i, (name, *_rest) in enumerate(bones)}
arm = bpy.data.armatures.new("Rig")
rig = bpy.data.objects.new("Rig", arm)
scene.collection.objects.link(rig)
bpy.context.view_layer.objects.active = rig
bpy.ops.object.mode_set(mode="EDIT")
for name, parent, head, tail in bones:
    bone = arm.edit_bones.new(generic[name])
    bone.head, bone.tail = head, tail
    if parent:
        bone.parent = arm.edit_bones[generic[parent]]
bpy.ops.object.mode_set(mode="OBJECT")
rig.scale = (0.01, 0.01, 0.01)
# A head: an egg of 15 x 20 x 23 cm facing -Y with a nose, skinned to the head bone.
bpy.ops.mesh.primitive_uv_sphere_add(segments=24, ring_count=12, location=(0.0, -0.02, 1.72))
head = bpy.context.active_object
head.name = "HeadMesh"
head.scale = (0.075, 0.10, 0.115)
bpy.ops.object.transform_apply(scale=True)
nose = min(head.data.vertices, key=lambda v: v.co.y + abs(v.co.z) + abs(v.co.x))
nose.co.y -= 0.03
head.vertex_groups.new(name=generic["Head"]).add(list(range(len(head.data.vertices))), 1.0, "REPLACE")
head.parent = rig
head.matrix_parent_inverse = rig.matrix_world.inverted()
head.modifiers.new("Armature", "ARMATURE").object = rig
bpy.ops.export_scene.gltf(filepath=str(out / "rig.glb"), export_format="GLB")
for obj in list(scene.objects):
    bpy.data.objects.remove(obj)
bpy.ops.import_scene.gltf(filepath=str(out / "rig.glb"))
imported = next(o for o in scene.objects if o.type == "ARMATURE")
imported.name = "Imported"
lengths = {n: imported.data.bones[generic[n]].length * imported.scale[0] for n in ("LeftHandIndex3", "Head")}
result["leaf_length_ratio"] = lengths["LeftHandIndex3"] / 0.03

bonemap, report = map_armature(imported)
result["ok"], result["preset"], result["hands"] = report.ok, report.preset, report.hands
result["summary"] = report.summary()
points = rest_points_world(imported, bonemap)
expected = {"left_elbow": BODY["forearm_L"][1], "right_knee": np.multiply(BODY["shin_L"][1], (-1, 1, 1)),
            "left_wrist": BODY["hand_L"][1], "neck": BODY["neck"][1], "head": BODY["head"][1],
            "left_hip": BODY["thigh_L"][1], "right_shoulder": np.multiply(BODY["upperarm_L"][1], (-1, 1, 1))}
result["joint_errors"] = {k: float(np.linalg.norm(points[SMPL_JOINT_NAMES.index(k)] - v)) for k, v in expected.items()}
result["required_mapped"] = int(np.isfinite(points[list(REQUIRED)]).all(axis=1).sum())
# Fingertips: next to the last finger joint, not across the frame.
tips = [24 + 1 + 4 * f + 3 for f in range(5)]
result["tip_over_segment"] = max(float(np.linalg.norm(points[t] - points[t - 1]) / np.linalg.norm(points[t - 1] - points[t - 2]))
                                 for t in tips)
result["face"] = {name: [float(v) for v in points[66 + k]] for k, name in
                  enumerate(("nose", "right_eye", "left_eye", "right_ear", "left_ear"))}

# The panel: Map by Structure keeps the guess as manual choices, an edited choice remaps at once,
# Use Selected Bone takes the viewport's active bone, Save Bone Map writes what --bonemap reads.
import scail_blender  # noqa: E402

scail_blender.register()
settings = scene.scail
character = settings.characters.add()
character.armature = imported
bpy.ops.scail.character_map_structure()
result["panel_structure"] = {"mapped": character.mapped, "choices": len(character.overrides)}
row = next(r for r in character.overrides if r.joint == "left_elbow")
row.bone = generic["LeftHand"]  # a wrong choice: the report follows without Map Bones Again
result["panel_after_edit"] = json.loads(character.bonemap_json)["body"]["left_elbow"]["bone"] == generic["LeftHand"]
character.active_override = list(character.overrides).index(row)
imported.data.bones.active = imported.data.bones[generic["LeftForeArm"]]
bpy.ops.scail.override_pick()
result["panel_pick"] = row.bone == generic["LeftForeArm"]
bpy.ops.scail.bonemap_save(filepath=str(out / "panel.json"))
result["panel_saved"] = json.loads((out / "panel.json").read_text())["body"]["left_elbow"]["bone"] == generic["LeftForeArm"]
scail_blender.unregister()

# A CMU-style BVH whose head ends in a 1 mm end site: no face marks (not a dot cluster in the
# neck), and a warning saying why.
def bvh_lines(name: str, offset: tuple, children: list, end: tuple | None = None, root: bool = False) -> list[str]:
    channels = ("CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if root
                else "CHANNELS 3 Zrotation Xrotation Yrotation")
    lines = [f"{'ROOT' if root else 'JOINT'} {name}", "{", "OFFSET {} {} {}".format(*offset), channels]
    for child in children:
        lines += bvh_lines(*child)
    if end is not None:
        lines += ["End Site", "{", "OFFSET {} {} {}".format(*end), "}"]
    return lines + ["}"]


def leg(side: str, x: float) -> tuple:
    return (f"{side[0]}HipJoint", (0, 0, 0), [(f"{side}UpLeg", (x, -0.05, 0), [(f"{side}Leg", (0, -0.45, 0), [
        (f"{side}Foot", (0, -0.45, 0), [(f"{side}ToeBase", (0, -0.05, 0.12), [], (0, 0, 0.05))])])])])


def arm(side: str, x: float) -> tuple:
    return (f"{side}Shoulder", (0.02 * x, 0.1, 0), [(f"{side}Arm", (0.15 * x, 0, 0), [(f"{side}ForeArm", (0.27 * x, 0, 0), [
        (f"{side}Hand", (0.25 * x, 0, 0), [], (0.08 * x, 0, 0))])])])


neck = ("Neck", (0, 0.12, 0), [("Neck1", (0, 0.08, 0), [("Head", (0, 0.08, 0), [], (0, 0.001, 0))])])
spine = ("LowerBack", (0, 0, 0), [("Spine", (0, 0.15, 0), [("Spine1", (0, 0.15, 0), [neck, arm("Left", 1), arm("Right", -1)])])])
hierarchy = bvh_lines("Hips", (0, 1, 0), [leg("Left", 0.1), leg("Right", -0.1), spine], root=True)
channels = sum(6 if line.startswith("CHANNELS 6") else 3 for line in hierarchy if line.startswith("CHANNELS"))
(out / "cmu.bvh").write_text("\n".join(["HIERARCHY", *hierarchy, "MOTION", "Frames: 1", "Frame Time: 0.0333333",
                                        " ".join(["0"] * channels)]) + "\n")
bpy.ops.import_anim.bvh(filepath=str(out / "cmu.bvh"))
bvh_rig = bpy.context.active_object
bvh_map, bvh_report = map_armature(bvh_rig)
result["bvh"] = {"ok": bvh_report.ok, "preset": bvh_report.preset, "head_length": bvh_rig.data.bones["Head"].length,
                 "marks": [m is not None for m in bvh_map.head_marks],
                 "warnings": [n for n in bvh_report.suspicious if "face" in n]}
bpy.data.objects.remove(bvh_rig)

# The command line with the saved map.
add_camera(scene)
save_bonemap(bonemap, out / "map.json")
(out / "broken.json").write_text("{\"body\": 3}")
bpy.ops.wm.save_as_mainfile(filepath=str(out / "imported.blend"))
runs = {}
for label, extra in (("bonemap", ["--bonemap", str(out / "map.json")]), ("broken", ["--bonemap", str(out / "broken.json")]),
                     ("names", [])):
    proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "render-pose", "--blend", str(out / "imported.blend"),
                           "--frame-range", "1:1", "--out", str(out / f"{label}.mp4"), *extra],
                          capture_output=True, text=True)
    runs[label] = {"rc": proc.returncode, "stderr": proc.stderr, "written": (out / f"{label}.mp4").exists()}
result["cli"] = runs
print(json.dumps(result))
