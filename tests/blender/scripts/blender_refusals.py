"""Refusals a Blender user meets, through the operators as the buttons call them: a reference
image whose file is gone, a checkpoint folder that does not exist (Generate In Blender, Start
Local Server), a scene where no armature would render (Render Pose Video in Blender, the
command line's entry on the saved file), and the mapping report of a rig that maps completely
by structure and of one with an arm missing. Prints one JSON line.

Parameters: ``folder`` for the .blend, the images and the pose video.
"""

import sys
from pathlib import Path
from types import SimpleNamespace

import bpy
import numpy as np

import scail_blender
from scail_blender.blender import backends, board, prefs
from scail_blender.blender.blend_file import render_blend_file
from scail_blender.errors import ScailError
from scail_blender.media.video import write_video
from tests.blender.scripts.common import emit, params
from tests.blender.scripts.rigs import add_camera, build_armature
from tests.support.rig_skeletons import MIXAMO, skeleton

folder = Path(params()["folder"])
folder.mkdir(parents=True, exist_ok=True)
found: dict = {}


def refusal(operator) -> str | None:
    """The error report of ``operator()``, or None when it ran."""
    try:
        operator()
    except RuntimeError as exc:
        return str(exc)
    return None


bpy.ops.wm.read_factory_settings(use_empty=True)
scail_blender.register()
scene = bpy.context.scene
bpy.ops.wm.save_as_mainfile(filepath=str(folder / "shot.blend"))  # outputs go next to the .blend
pose = folder / "pose.mp4"
write_video([np.zeros((64, 64, 3), np.uint8)] * 3, pose, 16)
settings = scene.scail
settings.pose_source, settings.pose_file = "FILE", str(pose)

# A reference image picked from a file that is then moved away.
picked = folder / "reference.png"
image = bpy.data.images.new("reference", 8, 8)
image.filepath_raw, image.file_format = str(picked), "PNG"
image.save()
settings.reference_image = bpy.data.images.load(str(picked))
picked.rename(folder / "moved.png")
found["moved_reference"] = refusal(bpy.ops.scail.generate)
found["moved_reference_jobs"] = len(board.records)

# The file is back where it was; the preferences' checkpoint folder does not exist.
(folder / "moved.png").rename(picked)
missing = folder / "no such folder" / "SCAIL-Preview"
chosen = SimpleNamespace(backend="IN_PROCESS", checkpoint_dir=str(missing), server_url="http://127.0.0.1:9",
                         server_token="", python_path=sys.executable, output_policy="BLEND_DIR", output_folder="")
prefs.preferences = lambda context=None: chosen
found["missing_checkpoint"] = refusal(bpy.ops.scail.generate)
found["missing_checkpoint_jobs"] = len(board.records)
found["start_server"] = refusal(bpy.ops.scail.start_server)
found["server_started"] = backends.local_server() is not None

# A rig that maps completely by structure alone (bone names that say nothing), and one missing an arm.
bones = skeleton(MIXAMO)
generic = {name: f"Bone.{i:03d}" for i, (name, *_rest) in enumerate(bones)}
rig = build_armature(scene, "Generic", [(generic[n], generic.get(p), h, t) for n, p, h, t in bones])
one_arm = build_armature(scene, "OneArm", [b for b in bones if b[0] not in {MIXAMO["forearm_L"], MIXAMO["hand_L"]}])
reports = {}
for obj in (rig, one_arm):
    for other in scene.objects:
        other.select_set(other == obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.scail.character_add()
    character = settings.characters[-1]
    reports[obj.name] = {"mapped": character.mapped, "report": character.report}
found["reports"] = reports

# No character listed in the panel and no armature that maps: Render Pose Video, then the command line's entry.
settings.characters.clear()
bpy.data.objects.remove(rig)
add_camera(scene)
found["render_in_blender"] = refusal(bpy.ops.scail.render_pose)
bpy.ops.wm.save_mainfile()
try:
    render_blend_file(folder / "shot.blend", folder / "cli_pose.mp4")
    found["render_on_command_line"] = None
except ScailError as exc:
    found["render_on_command_line"] = str(exc)
emit(found)
