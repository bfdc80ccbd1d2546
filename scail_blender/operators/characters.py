"""Characters list: add armatures, map their bones, keep manual bone choices."""

from __future__ import annotations

import json

import bpy

from ..blender.characters import remap_character, structure_choices
from ..errors import ScailError
from ..rig.bonemap import BoneMap, save_bonemap


def _active(context):
    settings = context.scene.scail
    if 0 <= settings.active_character < len(settings.characters):
        return settings.characters[settings.active_character]
    return None


class SCAIL_OT_character_add(bpy.types.Operator):
    """Add the selected armatures as characters and map their bones"""

    bl_idname = "scail.character_add"
    bl_label = "Add Selected Armature"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not any(o.type == "ARMATURE" for o in context.selected_objects):
            cls.poll_message_set("Select an armature in the viewport first")
            return False
        return True

    def execute(self, context):
        settings = context.scene.scail
        known = {c.armature for c in settings.characters}
        added = 0
        for obj in context.selected_objects:
            if obj.type != "ARMATURE" or obj in known:
                continue
            character = settings.characters.add()
            character.armature = obj
            remap_character(character)
            settings.active_character = len(settings.characters) - 1
            added += 1
            if not character.mapped:
                self.report({"WARNING"}, f"{obj.name}: {character.report.splitlines()[0]}")
        if not added:
            self.report({"INFO"}, "The selected armatures are already characters")
        return {"FINISHED"}


class _OnActiveCharacter:
    """Operators that edit the active character: available only when there is one."""

    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _active(context) is not None


class SCAIL_OT_character_remove(_OnActiveCharacter, bpy.types.Operator):
    """Remove the active character from the list (the armature stays in the scene)"""

    bl_idname = "scail.character_remove"
    bl_label = "Remove Character"

    def execute(self, context):
        settings = context.scene.scail
        settings.characters.remove(settings.active_character)
        settings.active_character = max(0, min(settings.active_character, len(settings.characters) - 1))
        return {"FINISHED"}


class SCAIL_OT_character_remap(_OnActiveCharacter, bpy.types.Operator):
    """Map the active character's bones again (after renaming bones or editing choices)"""

    bl_idname = "scail.character_remap"
    bl_label = "Map Bones Again"

    def execute(self, context):
        character = _active(context)
        remap_character(character)
        level = "INFO" if character.mapped else "WARNING"
        self.report({level}, character.report.splitlines()[0] if character.report else "Mapped")
        return {"FINISHED"}


class SCAIL_OT_override_add(_OnActiveCharacter, bpy.types.Operator):
    """Choose a bone by hand for one joint"""

    bl_idname = "scail.override_add"
    bl_label = "Add Bone Choice"

    def execute(self, context):
        character = _active(context)
        character.overrides.add()
        character.active_override = len(character.overrides) - 1
        return {"FINISHED"}


class SCAIL_OT_override_remove(bpy.types.Operator):
    """Forget the active manual bone choice and map again"""

    bl_idname = "scail.override_remove"
    bl_label = "Remove Bone Choice"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        character = _active(context)
        return character is not None and 0 <= character.active_override < len(character.overrides)

    def execute(self, context):
        character = _active(context)
        character.overrides.remove(character.active_override)
        character.active_override = max(0, character.active_override - 1)
        remap_character(character)
        return {"FINISHED"}


class SCAIL_OT_character_map_structure(_OnActiveCharacter, bpy.types.Operator):
    """Find the body joints from the bone tree and rest pose alone (for rigs whose bone names say nothing) and keep them as manual choices"""

    bl_idname = "scail.character_map_structure"
    bl_label = "Map by Structure"

    def execute(self, context):
        character = _active(context)
        try:
            count = structure_choices(character)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"} if character.mapped else {"WARNING"},
                    f"{count} joints set from the bone structure (a guess: check them with Show Skeleton)")
        return {"FINISHED"}


class SCAIL_OT_override_pick(bpy.types.Operator):
    """Use the bone selected in the viewport (Pose or Edit mode) for the active manual choice"""

    bl_idname = "scail.override_pick"
    bl_label = "Use Selected Bone"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        character = _active(context)
        if character is None or not 0 <= character.active_override < len(character.overrides):
            cls.poll_message_set("Add a manual bone choice first")
            return False
        if _picked_bone(context, character) is None:
            cls.poll_message_set("Select a bone of this character's armature in the viewport")
            return False
        return True

    def execute(self, context):
        character = _active(context)
        row = character.overrides[character.active_override]
        row.bone = _picked_bone(context, character)
        self.report({"INFO"}, f"{row.joint}: {row.bone} ({row.end})")
        return {"FINISHED"}


def _picked_bone(context, character) -> str | None:
    """The active bone of the character's armature, as clicked in the viewport."""
    armature = character.armature
    if armature is None or armature.type != "ARMATURE":
        return None
    bone = armature.data.bones.active
    return bone.name if bone is not None else None


class SCAIL_OT_bonemap_save(_OnActiveCharacter, bpy.types.Operator):
    """Save the active character's bone map as JSON (for scail render-pose --bonemap)"""

    bl_idname = "scail.bonemap_save"
    bl_label = "Save Bone Map"

    filepath: bpy.props.StringProperty(subtype="FILE_PATH")
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def invoke(self, context, event):
        self.filepath = bpy.path.clean_name(_active(context).armature.name if _active(context).armature else "rig") + ".json"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        character = _active(context)
        if not character.bonemap_json:
            self.report({"ERROR"}, "This character does not map yet: fix the missing joints first")
            return {"CANCELLED"}
        path = bpy.path.ensure_ext(bpy.path.abspath(self.filepath), ".json")
        try:
            save_bonemap(BoneMap.from_dict(json.loads(character.bonemap_json)), path)
        except OSError as exc:
            self.report({"ERROR"}, f"Could not write {path} ({exc.strerror}); choose another file")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Saved the bone map to {path}")
        return {"FINISHED"}


CLASSES = (SCAIL_OT_character_add, SCAIL_OT_character_remove, SCAIL_OT_character_remap,
           SCAIL_OT_character_map_structure, SCAIL_OT_override_add, SCAIL_OT_override_remove,
           SCAIL_OT_override_pick, SCAIL_OT_bonemap_save)
