"""The panel's LoRA list and sampler preset menu through their operators, then the job the panel
builds from them (and what a server upload would send); report what each step left.

Parameters: ``ref``, ``pose``, ``folder`` (outputs), ``lora`` (a .safetensors file of this machine).
"""

import bpy
import addon_utils  # importable only once bpy is

from scail_blender.blender import generate, prefs
from scail_blender.errors import InputError
from scail_blender.jobs.client import upload_loras

from tests.blender.scripts.common import emit, params

p = params()
addon_utils.enable("scail_blender", default_set=True)
preferences = prefs.preferences()
preferences.output_policy, preferences.output_folder, preferences.backend = "FOLDER", p["folder"], "SERVER"
settings = bpy.context.scene.scail
settings.reference_image = bpy.data.images.load(p["ref"])
settings.pose_source, settings.pose_file = "FILE", p["pose"]
report = {}


def stack() -> list[list]:
    return [[item.name, round(item.strength, 3), item.enabled] for item in settings.loras]


for name, strength in ((p["lora"], 0.5), ("style.safetensors", 1.0), ("dropped.safetensors", 2.0),
                       ("unused.safetensors", 1.5)):
    assert bpy.ops.scail.lora_add() == {"FINISHED"}
    settings.loras[settings.active_lora].name = name
    settings.loras[settings.active_lora].strength = strength
report["added"] = stack()
settings.active_lora = 1
assert bpy.ops.scail.lora_move(direction="UP") == {"FINISHED"}  # style.safetensors first
report["moved"] = stack()
report["active_after_move"] = settings.active_lora
settings.active_lora = 2
assert bpy.ops.scail.lora_remove() == {"FINISHED"}  # dropped.safetensors
settings.loras[2].enabled = False  # unused.safetensors stays listed, out of the job
report["edited"] = stack()
settings.active_lora = 0
report["move_up_at_top"] = list(bpy.ops.scail.lora_move(direction="UP"))
assert bpy.ops.scail.sampler_preset(preset="distill") == {"FINISHED"}
report["distill"] = [settings.steps, settings.shift, settings.cfg]
settings.steps = 6  # a preset fills the fields; they stay the user's to change
job, _ = generate.job_from_panel(bpy.context)
report["job"] = {"loras": [[spec.name, spec.strength] for spec in job.settings.loras], "steps": job.settings.steps,
                 "shift": job.settings.shift, "cfg": job.settings.cfg, "lora_mode": job.settings.lora_mode}
sent, uploads = upload_loras(job)
report["sent"] = {"loras": [[spec.name, spec.strength] for spec in sent], "uploads": uploads}
assert bpy.ops.scail.sampler_preset(preset="default") == {"FINISHED"}
report["default"] = [settings.steps, settings.shift, settings.cfg]
preferences.backend = "IN_PROCESS"  # Blender's own runner takes files only
try:
    generate.lora_stack(bpy.context)
except InputError as exc:
    report["in_process_refusal"] = str(exc)
for _ in range(5):
    bpy.ops.scail.lora_add()
report["count_at_limit"] = len(settings.loras)
try:
    bpy.ops.scail.lora_add()
except RuntimeError as exc:  # bpy.ops raises an operator's error report
    report["add_over_limit"] = str(exc)
emit(report)
