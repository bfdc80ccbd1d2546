"""Export a GLB with the SMPL model the preferences point at (a synthetic 60-vertex one);
report the vertex count of every mesh primitive in the file.

Parameters: ``folder`` for the model and the files.
"""

from pathlib import Path

import bpy
import numpy as np

from scail_blender.blender import prefs
from scail_blender.motion import save_motion
from scail_blender.motion.gltf import read_glb

from tests.blender.scripts.common import emit, motion_scene, params
from tests.support.motion_fixtures import synthetic_smpl_model, walking

folder = Path(params()["folder"])
scene = motion_scene()
models = folder / "models"
models.mkdir()
np.savez(models / "SMPL_NEUTRAL.npz", **synthetic_smpl_model(verts=60))
prefs.smpl_model_file = lambda context=None: prefs.find_body_model(models)
save_motion(walking(frames=3, people=1), folder / "in.npz")
bpy.ops.scail.import_motion(filepath=str(folder / "in.npz"), timing="ONE_TO_ONE")
scene.frame_start, scene.frame_end = 1, 3
arm = bpy.data.objects["dancer_0"]
arm.select_set(True)
bpy.context.view_layer.objects.active = arm
result = bpy.ops.scail.export_motion(filepath=str(folder / "smpl.glb"), file_format="GLB")
glb = read_glb(folder / "smpl.glb")
counts = [len(glb.accessor(p["attributes"]["POSITION"])) for m in glb.list("meshes") for p in m["primitives"]]
emit({"result": sorted(result), "counts": counts})
