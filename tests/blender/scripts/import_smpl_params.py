"""Import an AMASS-style npz made from known SMPL parameters (a synthetic SMPL model, and again
without a model) and report how far the rig's evaluated joints land from the motion's joints,
how far each bone's local rotation is from the generating axis-angle, which bones have location
keys, and whether turning a bone moves its children.

Parameters: ``folder`` for the files; ``with_model`` whether SCAIL_SMPL_MODELS points at the model.
"""

import os
from pathlib import Path

import bpy
import numpy as np
from mathutils import Quaternion

from scail_blender.blender import compat
from scail_blender.blender.build_rig import GLTF_TO_BLENDER
from scail_blender.motion import read_motion
from scail_blender.motion.smpl import rodrigues
from scail_blender.pose.skeleton import SMPL_JOINT_NAMES

from tests.blender.scripts.common import emit, motion_scene, params
from tests.extract.smpl_model import write_smpl_model

args = params()
folder = Path(args["folder"])
if args["with_model"]:
    os.environ["SCAIL_SMPL_MODELS"] = str(write_smpl_model(folder / "SMPL_NEUTRAL.pkl"))
else:
    os.environ.pop("SCAIL_SMPL_MODELS", None)
rng = np.random.default_rng(3)
frames = 8
pose = rng.normal(0, 0.4, (frames, 72))
trans = rng.normal(0, 0.3, (frames, 3))
path = folder / "walk_poses.npz"
np.savez(path, poses=pose, trans=trans, betas=rng.normal(0, 1, 16), gender=np.array("neutral"),
         mocap_frame_rate=np.array(float(args.get("fps", 16))))

scene = motion_scene()
result = bpy.ops.scail.import_motion(filepath=str(path), timing="SCENE")
motion = read_motion(path).motion
want = motion.joints[:, 0] * np.array([1.0, -1.0, -1.0]) / 1000.0 @ GLTF_TO_BLENDER.T  # Blender world, metres
step = motion.fps / scene.render.fps  # source frames per scene frame
rig = next(o for o in scene.objects if o.type == "ARMATURE")
curves = compat.fcurves(rig)
keyed = len(curves[0].keyframe_points)
position_mm, rotation_deg = 0.0, 0.0
for t in range(scene.frame_start, scene.frame_start + keyed):
    source = (t - scene.frame_start) * step
    if abs(source - round(source)) > 1e-6:
        continue  # retimed: compare on the frames that fall on source frames
    source = int(round(source))
    scene.frame_set(t)
    for j, name in enumerate(SMPL_JOINT_NAMES):
        bone = rig.pose.bones[name]
        head = np.array(rig.matrix_world @ bone.head)
        position_mm = max(position_mm, float(np.abs(head - want[source, j]).max()) * 1000.0)
        if j == 0:
            continue
        rest = np.array(bone.bone.matrix_local.to_3x3())
        local = GLTF_TO_BLENDER.T @ rest @ np.array(bone.matrix_basis.to_3x3()) @ rest.T @ GLTF_TO_BLENDER
        error = local @ rodrigues(pose[source, j * 3:j * 3 + 3]).T
        # the angle of the residual rotation, via its chord (arccos of the trace is ill-conditioned near 0)
        angle = np.degrees(2 * np.arcsin(min(1.0, np.linalg.norm(error - np.eye(3)) / (2 * np.sqrt(2)))))
        rotation_deg = max(rotation_deg, float(angle))
located = sorted({c.data_path.split('"')[1] for c in curves if c.data_path.endswith(".location")})
scene.frame_set(scene.frame_start)
before = np.array(rig.pose.bones["left_knee"].head), np.array(rig.pose.bones["left_hip"].head)
rig.animation_data.action = None  # edit the pose by hand: turn the left hip
rig.pose.bones["left_hip"].rotation_quaternion = Quaternion((1, 0, 0), 0.5) @ rig.pose.bones["left_hip"].rotation_quaternion
bpy.context.view_layer.update()
after = np.array(rig.pose.bones["left_knee"].head), np.array(rig.pose.bones["left_hip"].head)
emit({"result": sorted(result), "position_mm": position_mm, "rotation_deg": rotation_deg, "located": located,
      "knee_moved_mm": float(np.linalg.norm(after[0] - before[0]) * 1000),
      "hip_moved_mm": float(np.linalg.norm(after[1] - before[1]) * 1000), "frames": keyed})
