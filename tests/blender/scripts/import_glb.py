"""Import a two-person GLB written by save_motion, extract its joints again through the
scene's camera, and report how far the re-extracted joints land from the written ones, the
camera's name and the channel group of each F-curve.

Parameters: ``glb``, where to write the motion.
"""

import bpy
import numpy as np

from scail_blender.blender import compat
from scail_blender.blender.scene_motion import Character, ClipExtractor
from scail_blender.motion import save_motion

from tests.blender.scripts.common import emit, motion_scene, params
from tests.support.motion_fixtures import walking

glb = params()["glb"]
scene = motion_scene()
motion = walking(frames=8, people=2)
motion.source = "blender:Scene; camera at its render size 1920x1080 (H x W)"  # what Export Motion writes
save_motion(motion, glb)
result = bpy.ops.scail.import_motion(filepath=glb, timing="SCENE")
arms = [o for o in scene.objects if o.type == "ARMATURE"]
chars = [Character(bpy.data.objects[n], scale=1.0) for n in ("dancer_0", "dancer_1")]
got = ClipExtractor(scene, chars, scene.camera, frame_times=range(1, 9)).run()
want_px = motion.intrinsics.project(motion.joints)
got_px = got.intrinsics.project(got.joints)
emit({"result": sorted(result), "armatures": sorted(a.name for a in arms), "bones": sorted(b.name for b in arms[0].data.bones),
      "image_size": [list(got.image_size), list(motion.image_size)], "camera": scene.camera.name,
      "groups": sorted({(c.data_path.split('"')[1] if '"' in c.data_path else c.data_path, c.group.name if c.group else None)
                        for c in compat.fcurves(arms[0])}),
      "max_px": float(np.abs(got_px - want_px).max()), "max_mm": float(np.abs(got.joints - motion.joints).max())})
