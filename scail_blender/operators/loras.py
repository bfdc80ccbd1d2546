"""The LoRA list of the panel (add, remove, move) and the sampler preset menu.

Thin: the list is ``scene.scail.loras``; the job is built from it in ``blender/generate.py``,
and the presets' values come from the job contract (``PRESETS``), as on the command line.
"""

from __future__ import annotations

import bpy

from ..blender import prefs
from ..jobs.sampling import PRESETS, describe_preset, preset_values
from ..jobs.loras import MAX_LORAS


class SCAIL_OT_lora_add(bpy.types.Operator):
    """Add a LoRA to the end of the stack (LoRAs are merged in the list's order)"""

    bl_idname = "scail.lora_add"
    bl_label = "Add LoRA"

    def execute(self, context):
        settings = context.scene.scail
        if len(settings.loras) >= MAX_LORAS:
            self.report({"ERROR"}, f"A job takes at most {MAX_LORAS} LoRAs: remove one first")
            return {"CANCELLED"}
        settings.loras.add()
        settings.active_lora = len(settings.loras) - 1
        return {"FINISHED"}


class _OnActiveLora:
    @classmethod
    def poll(cls, context):
        settings = context.scene.scail
        return 0 <= settings.active_lora < len(settings.loras)


class SCAIL_OT_lora_remove(_OnActiveLora, bpy.types.Operator):
    """Remove the selected LoRA from the stack"""

    bl_idname = "scail.lora_remove"
    bl_label = "Remove LoRA"

    def execute(self, context):
        settings = context.scene.scail
        settings.loras.remove(settings.active_lora)
        settings.active_lora = min(settings.active_lora, len(settings.loras) - 1)
        return {"FINISHED"}


class SCAIL_OT_lora_move(_OnActiveLora, bpy.types.Operator):
    """Move the selected LoRA up or down: the stack is merged from the top"""

    bl_idname = "scail.lora_move"
    bl_label = "Move LoRA"

    direction: bpy.props.EnumProperty(items=(("UP", "Up", "Merged earlier"), ("DOWN", "Down", "Merged later")))

    def execute(self, context):
        settings = context.scene.scail
        target = settings.active_lora + (-1 if self.direction == "UP" else 1)
        if not 0 <= target < len(settings.loras):
            return {"CANCELLED"}
        settings.loras.move(settings.active_lora, target)
        settings.active_lora = target
        return {"FINISHED"}


def _preset_items(_self, _context) -> list[tuple[str, str, str]]:
    return [(name, preset.label, f"{describe_preset(name)}: {preset.doc}") for name, preset in PRESETS.items()]


class SCAIL_OT_sampler_preset(bpy.types.Operator):
    """Fill Steps, CFG and Shift with a preset's values, else the checkpoint model's official ones (a distillation LoRA needs its own); they stay editable"""

    bl_idname = "scail.sampler_preset"
    bl_label = "Sampler Preset"
    bl_options = {"REGISTER", "UNDO"}

    preset: bpy.props.EnumProperty(name="Preset", items=_preset_items)

    def execute(self, context):
        settings = context.scene.scail
        model = "multianimate" if prefs.multianimate_checkpoint(context) else "scail"
        values = preset_values(self.preset, model)
        for name, value in values.items():
            setattr(settings, name, value)
        self.report({"INFO"}, f"{PRESETS[self.preset].label}: " + ", ".join(f"{k} {v:g}" for k, v in values.items()))
        return {"FINISHED"}


CLASSES = (SCAIL_OT_lora_add, SCAIL_OT_lora_remove, SCAIL_OT_lora_move, SCAIL_OT_sampler_preset)
