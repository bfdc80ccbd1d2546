"""A Mixamo rig built in centimetres in a scene whose unit scale is 0.01; report its measured
height, the automatic scale and the pelvis seen from a camera 600 units away."""

from scail_blender.blender.scene_motion import ClipExtractor
from scail_blender.pose.skeleton import SMPL_JOINT_NAMES

from tests.blender.scripts.common import emit
from tests.blender.scripts.rigs import add_camera, build_armature, fresh_scene
from tests.support.rig_skeletons import MIXAMO, skeleton

scene = fresh_scene()
scene.unit_settings.scale_length = 0.01
obj = build_armature(scene, "Cm", skeleton(MIXAMO, scale=100.0))
add_camera(scene, location=(0.0, -600.0, 100.0))
extractor = ClipExtractor(scene, [obj], frame_times=[1])
height, scales = extractor.heights_m[0], list(extractor.scales)
pelvis = extractor.run().joints[0, 0, SMPL_JOINT_NAMES.index("pelvis")]
emit({"height": height, "scales": scales, "pelvis": pelvis.tolist()})
