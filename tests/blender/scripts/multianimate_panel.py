"""The panel with a MultiAnimate checkpoint (In Blender): four Rigify dancers with cylinder bodies
are refused by the 3-character checkpoint before anything renders; with the fourth deleted,
Render Pose Video (which then also writes the skeletons, the character masks from the meshes and
the reference skeleton), Sampler Preset > Default (MultiAnimate's official values), then Generate;
the job timer is driven by hand (headless Blender fires no timers). Reports the refusal, the files,
the preset's values, the job's inputs and its end.

Parameters: ``checkpoint`` (a tiny MultiAnimate folder, its base beside it), ``ref``, ``folder``.
"""

from pathlib import Path

import bpy
import addon_utils  # importable only once bpy is

from scail_blender.blender import board, prefs
from scail_blender.blender.scene_render import default_video_path, multianimate_paths

from tests.blender.scripts.common import add_body, add_camera, add_rigify_dancer, emit, empty_scene, params

p = params()
addon_utils.enable("scail_blender", default_set=True)
preferences = prefs.preferences()
preferences.output_policy, preferences.output_folder = "FOLDER", p["folder"]
preferences.backend, preferences.checkpoint_dir = "IN_PROCESS", p["checkpoint"]

scene = empty_scene()
scene.render.fps, scene.frame_start, scene.frame_end = 24, 1, 7
for name, x, y, phase in (("Hero", -1.3, 0.0, 0.0), ("Third", 0.0, -0.4, 1.0), ("Extra", 1.4, 0.6, 2.0)):
    add_body(add_rigify_dancer(scene, name, (x, y, 0.0), phase=phase, frames=(1, 7)))
fourth = add_rigify_dancer(scene, "Fourth", (2.6, 0.8, 0.0), frames=(1, 7))
fourth_body = add_body(fourth)
add_camera(scene)
settings = scene.scail
settings.reference_image = bpy.data.images.load(p["ref"])
settings.size_preset, settings.height, settings.width = "CUSTOM", 64, 128
settings.prompt, settings.seed = "three person are dancing", 3
report = {"multianimate": prefs.multianimate_checkpoint()}

try:
    bpy.ops.scail.render_pose()
except RuntimeError as exc:  # background Blender raises the operator's error report
    report["refused"] = str(exc)
report["files_after_refusal"] = sorted(str(f) for f in Path(p["folder"]).rglob("*"))
bpy.data.objects.remove(fourth_body)
bpy.data.objects.remove(fourth)
# A mask left by an earlier render of four characters, which this render of three must take away.
stale = multianimate_paths(default_video_path(scene, Path(p["folder"])))[1] / "character_4.mp4"
stale.parent.mkdir()
stale.write_bytes(b"an earlier render's fourth mask")
assert bpy.ops.scail.render_pose() == {"FINISHED"}
report["files"] = sorted(str(f.relative_to(p["folder"])) for f in Path(p["folder"]).rglob("*") if f.is_file())
report["pose_mask_field"] = settings.pose_mask

bpy.ops.scail.sampler_preset(preset="default")
report["preset"] = [settings.steps, settings.cfg, settings.shift]
settings.steps = 2  # a quick test; the rest stays MultiAnimate's

before = set(board.records)
assert bpy.ops.scail.generate() == {"FINISHED"}
(key,) = set(board.records) - before
record = board.records[key]
report["inputs"] = {"pose": record.job.inputs.pose_video, "masks": record.job.inputs.character_masks,
                    "reference_pose": record.job.inputs.reference_pose, "pose_mask": record.job.inputs.pose_mask,
                    "cfg": record.job.settings.cfg, "sampler": record.job.settings.sampler}
board.drain_until(lambda: record.final, 240.0)
report["state"], report["error"] = record.status.state, record.error
if record.status.result is not None:
    report["result"] = {"output": record.status.result.output, "frames": record.status.result.frames}
emit(report)
