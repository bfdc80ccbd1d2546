"""Render two frames with the automatic renderer choice and report whether torch was imported
and whether an NVIDIA driver is present (torch may load only with one)."""

import json
import sys

from scail_blender.pose import render
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.skeleton import smpl_to_scail
from scail_blender.pose.synthetic import CLIPS

clip = CLIPS["walking"](frames=2)
frames = list(render.render_clip(smpl_to_scail(clip.joints), Intrinsics.default(64, 96), (64, 96)))
print(json.dumps({"frames": len(frames), "torch": "torch" in sys.modules, "driver": render._nvidia_driver_present()}))
