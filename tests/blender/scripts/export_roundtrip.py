"""Import a one-person npz, export the selected armature to GLB and to npz, read both back and
report their frame counts and how far their joints project from the original's.

Parameters: ``folder`` for the files.
"""

from pathlib import Path

import bpy
import numpy as np

from scail_blender.motion import load_motion, save_motion

from tests.blender.scripts.common import emit, motion_scene, params
from tests.support.motion_fixtures import walking

folder = Path(params()["folder"])
scene = motion_scene()
motion = walking(frames=6, people=1)
save_motion(motion, folder / "in.npz")
bpy.ops.scail.import_motion(filepath=str(folder / "in.npz"), timing="ONE_TO_ONE")
scene.frame_start, scene.frame_end = 1, 6
arm = bpy.data.objects["dancer_0"]
arm.select_set(True)
bpy.context.view_layer.objects.active = arm
exported = {}
for name, fmt in (("out.glb", "GLB"), ("out.npz", "NPZ")):
    result = bpy.ops.scail.export_motion(filepath=str(folder / name), file_format=fmt)
    back = load_motion(folder / name)
    px = np.abs(back.intrinsics.project(back.joints) - motion.intrinsics.project(motion.joints)).max()
    exported[name] = {"result": sorted(result), "frames": back.frames, "px": float(px)}
emit(exported)
