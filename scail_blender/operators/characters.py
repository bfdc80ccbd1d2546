"""Characters list: add armatures, map their bones, keep manual bone choices."""

from __future__ import annotations

import bpy

from ..blender.characters import remap_character


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


CLASSES = (SCAIL_OT_character_add, SCAIL_OT_character_remove, SCAIL_OT_character_remap,
           SCAIL_OT_override_add, SCAIL_OT_override_remove)
