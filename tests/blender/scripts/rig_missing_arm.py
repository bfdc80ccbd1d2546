"""A Mixamo rig without its left forearm and hand, and a camera given as a character; report
the missing joints and the extractor's errors."""

from scail_blender.blender.armature import map_armature
from scail_blender.blender.scene_motion import ClipExtractor

from tests.blender.scripts.common import emit
from tests.blender.scripts.rigs import add_camera, build_armature, error_of, fresh_scene
from tests.support.rig_skeletons import MIXAMO, skeleton

scene = fresh_scene()
obj = build_armature(scene, "NoArm", [b for b in skeleton(MIXAMO) if b[0] not in ("LeftForeArm", "LeftHand")])
add_camera(scene)
_, report = map_armature(obj)
emit({"missing": list(report.missing_required), "no_arm": error_of(ClipExtractor, scene, [obj]),
      "camera": error_of(ClipExtractor, scene, [scene.camera])})
