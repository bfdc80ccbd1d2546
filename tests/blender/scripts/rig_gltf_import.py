"""Skinned glTF files written from joint tables and read back with Blender's own glTF importer:
CesiumMan's skeleton (with and without its left arm) and a generic-named humanoid with twist
bones, IK bones and extra roots (with several root joints the importer makes bones of the nodes
above them too, and armature space is the world's). Reports, per file, the mapping by structure
(the bone each SCAIL joint comes from, under the original names) and how far the importer's
bones lie from the fixture's stand-in for them (tests/support/rig_skeletons.imported_gltf_bones).

Parameters: ``dir``, where to write the files.
"""

import re
from pathlib import Path

import bpy
import numpy as np

from scail_blender.blender.armature import bone_infos, map_armature
from scail_blender.pose.skeleton import SMPL_JOINT_NAMES
from scail_blender.rig.bonemap import REQUIRED

from tests.blender.scripts.common import emit, params
from tests.blender.scripts.rigs import fresh_scene
from tests.support.rig_skeletons import (CESIUM_MAN, CESIUM_MAN_ARMATURE, MIXAMO, bone_table, generic_names,
                                         gltf_joints, imported_gltf_bones, with_ik_bones, with_twist_bones,
                                         write_skinned_gltf)

folder = Path(params()["dir"])
generic, original = generic_names(with_ik_bones(with_twist_bones(bone_table(MIXAMO, fingers=True))))
cases = {
    "cesium_man": (CESIUM_MAN, CESIUM_MAN_ARMATURE, {}),
    "cesium_man_one_arm": ({k: v for k, v in CESIUM_MAN.items() if "arm_joint_L" not in k}, CESIUM_MAN_ARMATURE, {}),
    "twist_and_ik": (gltf_joints(generic), None, original),
}
results = {}
for name, (joints, armature, names) in cases.items():
    fresh_scene()
    path = folder / f"{name}.glb"
    write_skinned_gltf(joints, path, armature)
    bpy.ops.import_scene.gltf(filepath=str(path))
    rig = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    bonemap, report = map_armature(rig)
    got = {b.name: b for b in bone_infos(rig)}
    stand_in = {b.name: b for b in imported_gltf_bones(joints)}
    results[name] = {
        "ok": report.ok, "preset": report.preset, "fix": report.how_to_fix(),
        "summary": re.sub(r"'([^']+)'", lambda m, names=names: f"'{names.get(m.group(1), m.group(1))}'",
                          report.summary()),
        "missing": report.missing_required, "guessed": sorted(report.guessed),
        "body": {SMPL_JOINT_NAMES[i]: [names.get(s.bone, s.bone), s.end] for i, s in bonemap.body.items() if i in REQUIRED},
        "extra_bones": sorted(set(got) - set(stand_in)), "lost_bones": sorted(set(stand_in) - set(got)),
        "head_error": max(float(np.linalg.norm(np.subtract(got[n].head, stand_in[n].head))) for n in stand_in if n in got),
    }
emit(results)
