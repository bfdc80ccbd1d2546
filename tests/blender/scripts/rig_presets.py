"""Build a Mixamo and an Unreal mannequin rig with fingers from edit bones, map and extract
each in front of a camera 6 m away; report the mapping and the joints' depths."""

from scail_blender.blender.armature import bone_infos, map_armature
from scail_blender.blender.scene_motion import ClipExtractor

from tests.blender.scripts.common import emit
from tests.blender.scripts.rigs import add_camera, build_armature, fresh_scene
from tests.support.rig_skeletons import MIXAMO, UNREAL, skeleton

results = {}
for names, preset in (({k: "mixamorig:" + v for k, v in MIXAMO.items()}, "Mixamo"), (UNREAL, "Unreal mannequin")):
    scene = fresh_scene()
    obj = build_armature(scene, "Char", skeleton(names, fingers=True))
    bonemap, report = map_armature(obj)
    add_camera(scene)
    motion = ClipExtractor(scene, [obj], frame_times=[1]).run()
    results[preset] = {"ok": report.ok, "preset": report.preset, "summary": report.summary(),
                       "infos": len(bone_infos(obj)), "bones": len(obj.data.bones), "hands": report.hands,
                       "depths": motion.joints[0, 0, :, 2].tolist()}
emit(results)
