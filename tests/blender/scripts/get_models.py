"""The Models Folder preference, its DiT menu and Get Models on the board, against a local hub.

Parameters: ``models`` (a ComfyUI tree with two DiTs and no CLIP), ``endpoint`` (the local hub
serving the missing files of the ``scail2-fp8`` setup).
"""

import os

import bpy
import addon_utils  # importable only once bpy is

from scail_blender.blender import board, prefs
from scail_blender.errors import InputError

from tests.blender.scripts.common import emit, params

p = params()
addon_utils.enable("scail_blender", default_set=True)
preferences = prefs.preferences()
report = {"online_access": bpy.app.online_access}

os.environ["HF_ENDPOINT"] = "https://huggingface.co"
preferences.models_dir = p["models"]
try:
    bpy.ops.scail.get_models()
except RuntimeError as exc:  # the operator's error report
    report["refused_offline"] = str(exc)

report["dits"] = [identifier for identifier, _, _ in prefs._dits(preferences, bpy.context)]
try:
    prefs.checkpoint_folder()
except InputError as exc:
    report["incomplete"] = str(exc)

os.environ["HF_ENDPOINT"] = p["endpoint"]  # loopback: allowed without online access
preferences.setup = "scail2-fp8"
bpy.ops.scail.get_models()
activity = board.activities["models"]
board.drain_until(lambda: activity.state in {"ok", "failed"}, 120.0)
report.update(state=activity.state, message=activity.message, lines=activity.lines)
report["dits_after"] = [identifier for identifier, _, _ in prefs._dits(preferences, bpy.context)]
preferences.dit = "diffusion_models/wan2.1_14B_SCAIL_2_fp8_scaled.safetensors"
report["checkpoint"] = str(prefs.checkpoint_folder())
addon_utils.disable("scail_blender", default_set=True)
emit(report)
