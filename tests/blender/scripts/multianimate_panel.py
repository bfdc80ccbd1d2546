"""The panel with a MultiAnimate checkpoint (In Blender): three Rigify dancers with cylinder bodies,
Render Pose Video (which then also writes the skeletons, the character masks from the meshes and
the reference skeleton), Sampler Preset > Default (MultiAnimate's official values), then Generate;
the job timer is driven by hand (headless Blender fires no timers). Reports the files, the preset's
values, the job's inputs and its end.

Parameters: ``checkpoint`` (a tiny MultiAnimate folder, its base beside it), ``ref``, ``folder``.
"""

from pathlib import Path

import bpy
import addon_utils  # importable only once bpy is

from scail_blender.blender import board, prefs

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
add_camera(scene)
settings = scene.scail
settings.reference_image = bpy.data.images.load(p["ref"])
settings.size_preset, settings.height, settings.width = "CUSTOM", 64, 128
settings.prompt, settings.seed = "three person are dancing", 3
report = {"multianimate": prefs.multianimate_checkpoint()}

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
