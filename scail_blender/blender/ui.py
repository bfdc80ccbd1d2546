"""The "Animate Character" sidebar in the 3D viewport (N panel)."""

from __future__ import annotations

import json

import bpy

from . import board, prefs

CATEGORY = "Animate Character"


class SCAIL_UL_characters(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_prop, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.prop(item, "enabled", text="")
        name = item.armature.name if item.armature else "(armature deleted)"
        row.label(text=name, icon="ARMATURE_DATA" if item.mapped else "ERROR")


class SCAIL_UL_overrides(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_prop, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.prop(item, "joint", text="")
        if data.armature and data.armature.type == "ARMATURE":
            row.prop_search(item, "bone", data.armature.data, "bones", text="")
        else:
            row.prop(item, "bone", text="")
        row.prop(item, "end", text="")


class SCAIL_UL_loras(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_prop, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.prop(item, "enabled", text="")
        row.prop(item, "name", text="")
        row.prop(item, "strength", text="")


class _Sidebar:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY


class SCAIL_PT_main(_Sidebar, bpy.types.Panel):
    bl_label = "Animate Character"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.scail
        render = next((r for r in board.records.values() if r.kind == "render" and not r.final), None)
        if render is not None:
            row = layout.row(align=True)
            row.progress(factor=render.status.progress, text=render.line())
            row.operator("scail.job_cancel", text="", icon="CANCEL").key = render.key
        col = layout.column(align=True)
        col.operator("scail.render_pose", icon="RENDER_ANIMATION")
        col.operator("scail.preview_frame", icon="IMAGE_DATA")
        layout.prop(settings, "show_skeleton")


class SCAIL_PT_characters(_Sidebar, bpy.types.Panel):
    bl_label = "Characters"
    bl_parent_id = "SCAIL_PT_main"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.scail
        row = layout.row()
        row.template_list("SCAIL_UL_characters", "", settings, "characters", settings, "active_character", rows=2)
        col = row.column(align=True)
        col.operator("scail.character_add", text="", icon="ADD")
        col.operator("scail.character_remove", text="", icon="REMOVE")
        col.operator("scail.character_remap", text="", icon="FILE_REFRESH")
        if not settings.characters:
            layout.label(text="Select an armature and press +", icon="INFO")
            return
        if not 0 <= settings.active_character < len(settings.characters):
            return
        character = settings.characters[settings.active_character]
        box = layout.box()
        box.label(text=f"Preset: {character.preset or 'by hierarchy'}")
        for line in character.report.splitlines():
            box.label(text=line, icon="NONE" if character.mapped else "ERROR")
        if character.bonemap_json:
            box.prop(character, "show_map", icon="TRIA_DOWN" if character.show_map else "TRIA_RIGHT", emboss=False)
            if character.show_map:
                col = box.column(align=True)
                for joint, source in json.loads(character.bonemap_json)["body"].items():
                    col.label(text=f"{joint}: {source['bone']} ({source['end']})")
        row = box.row(align=True)
        row.operator("scail.character_map_structure", icon="OUTLINER_DATA_ARMATURE")
        row.operator("scail.bonemap_save", icon="EXPORT")
        box.label(text="Manual bone choices:")
        row = box.row()
        row.template_list("SCAIL_UL_overrides", "", character, "overrides", character, "active_override", rows=2)
        col = row.column(align=True)
        col.operator("scail.override_add", text="", icon="ADD")
        col.operator("scail.override_remove", text="", icon="REMOVE")
        col.operator("scail.override_pick", text="", icon="EYEDROPPER")


class SCAIL_PT_camera_output(_Sidebar, bpy.types.Panel):
    bl_label = "Camera and Output"
    bl_parent_id = "SCAIL_PT_main"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        scene = context.scene
        settings = scene.scail
        layout.prop(scene, "camera")
        layout.operator("scail.camera_from_view", icon="VIEW_CAMERA")
        layout.prop(settings, "size_preset")
        if settings.size_preset == "CUSTOM":
            col = layout.column(align=True)  # height first, as everywhere (HxW)
            col.prop(settings, "height")
            col.prop(settings, "width")
        layout.prop(settings, "framing")
        layout.prop(settings, "fps")
        layout.prop(settings, "use_scene_range")
        col = layout.column(align=True)
        if settings.use_scene_range:
            col.enabled = False
            col.prop(scene, "frame_start")
            col.prop(scene, "frame_end")
        else:
            col.prop(settings, "frame_start")
            col.prop(settings, "frame_end")
        layout.prop(settings, "driving")
        layout.prop(settings, "write_frames")
        layout.prop(settings, "add_strip")
        layout.prop(settings, "write_mask")
        row = layout.row()
        row.enabled = settings.write_mask
        row.prop(settings, "mask_mode")


class SCAIL_PT_reference(_Sidebar, bpy.types.Panel):
    bl_label = "Reference and Prompt"
    bl_parent_id = "SCAIL_PT_main"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.scail
        layout.template_ID(settings, "reference_image", open="image.open")
        layout.prop(settings, "prompt", text="")
        layout.prop(settings, "negative_prompt")
        layout.prop(settings, "pose_source")
        if settings.pose_source == "FILE":
            layout.prop(settings, "pose_file", text="")
        elif settings.pose_source == "STRIP" and context.scene.sequence_editor is not None:
            editor = context.scene.sequence_editor
            layout.prop_search(settings, "pose_strip", editor, "strips" if hasattr(editor, "strips") else "sequences")
        if settings.pose_source != "RENDERED":
            layout.prop(settings, "black_out")
        layout.operator_menu_enum("scail.sampler_preset", "preset", text="Sampler Preset", icon="PRESET")
        row = layout.row(align=True)
        row.prop(settings, "steps")
        row.prop(settings, "cfg")
        row.prop(settings, "shift")
        layout.prop(settings, "seed")
        layout.label(text="LoRAs (merged from the top):")
        row = layout.row()
        row.template_list("SCAIL_UL_loras", "", settings, "loras", settings, "active_lora", rows=2)
        col = row.column(align=True)
        col.operator("scail.lora_add", text="", icon="ADD")
        col.operator("scail.lora_remove", text="", icon="REMOVE")
        col.operator("scail.lora_move", text="", icon="TRIA_UP").direction = "UP"
        col.operator("scail.lora_move", text="", icon="TRIA_DOWN").direction = "DOWN"
        if settings.loras:
            layout.prop(settings, "lora_mode")
        col = layout.column(align=True)
        col.label(text="SCAIL-2 masks (SCAIL-2 checkpoints only):")
        col.template_ID(settings, "reference_mask", open="image.open")
        col.prop(settings, "pose_mask", text="")
        backend = prefs.preferences(context)
        in_blender = backend is not None and backend.backend == "IN_PROCESS"
        if in_blender and backend.models_dir:  # the DiTs found in the Models Folder (a server runs its own)
            layout.prop(backend, "dit")
        where = "in Blender" if in_blender else "on the server"
        layout.operator("scail.generate", text=f"Generate ({where})", icon="PLAY")


class SCAIL_PT_jobs(_Sidebar, bpy.types.Panel):
    bl_label = "Jobs"
    bl_parent_id = "SCAIL_PT_main"

    def draw(self, context):
        layout = self.layout
        if not board.records:
            layout.label(text="No jobs yet: Generate, Extract Motion or Render Pose Video", icon="INFO")
        for record in reversed(list(board.records.values())):
            box = layout.box()
            row = box.row(align=True)
            row.label(text=f"{KIND_TITLES[record.kind]}: {record.label}", icon=STATE_ICONS.get(record.status.state, "NONE"))
            if not record.final:
                row.operator("scail.job_cancel", text="", icon="CANCEL").key = record.key
            row.operator("scail.job_remove", text="", icon="X").key = record.key
            if record.status.state == "running":
                box.progress(factor=record.status.progress, text=record.line())
            else:
                box.label(text=record.line(), icon="ERROR" if record.error else "NONE")
        row = layout.row(align=True)
        row.operator("scail.release_model", icon="TRASH")
        row.operator("scail.start_server", icon="PLAY")
        for name, activity in board.activities.items():
            if activity.state:
                col = layout.column(align=True)
                col.label(text=f"{name.title()}: {activity.message}", icon="ERROR" if activity.state == "failed" else "INFO")
                if activity.state == "running":
                    for line in activity.lines[-3:]:
                        col.label(text=line)


KIND_TITLES = {"generate": "Generate", "extract": "Extract", "render": "Pose video"}
STATE_ICONS = {"queued": "SORTTIME", "running": "PLAY", "succeeded": "CHECKMARK", "failed": "ERROR",
               "cancelled": "CANCEL"}


CLASSES = (SCAIL_UL_characters, SCAIL_UL_overrides, SCAIL_UL_loras, SCAIL_PT_main, SCAIL_PT_characters,
           SCAIL_PT_camera_output, SCAIL_PT_reference, SCAIL_PT_jobs)
