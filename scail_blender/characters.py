"""Characters of a scene: which armatures render, and their bone maps.

The bone map itself is never stored: it is recomputed from the armature's bones and the
user's manual choices (the overrides), so renaming or re-parenting bones can not leave a stale
map in the .blend. What is stored is the last report, for the panel.
"""

from __future__ import annotations

import bpy

from .errors import RigMappingError
from .pose.skeleton import SMPL_JOINT_NAMES
from .rig.armature import bone_infos
from .rig.bonemap import BoneMap, JointSource, auto_map


def overrides_of(character) -> dict[int, JointSource]:
    """The character's manual bone choices in the mapper's format (SMPL index -> bone end)."""
    return {SMPL_JOINT_NAMES.index(o.joint): JointSource(o.bone, o.end) for o in character.overrides if o.bone}


def map_armature(obj: bpy.types.Object, overrides: dict[int, JointSource] | None = None):
    """(BoneMap, MappingReport) for an armature object."""
    return auto_map(bone_infos(obj), overrides)


def remap_character(character) -> None:
    """Map again and store the report shown in the panel."""
    obj = character.armature
    if obj is None:
        character.mapped, character.preset, character.report = False, "", "The armature was deleted: remove this character."
        return
    bonemap, report = map_armature(obj, overrides_of(character))
    character.mapped = not report.missing
    character.preset = bonemap.preset or ""
    character.report = str(report)


def bonemap_for(obj: bpy.types.Object, overrides: dict[int, JointSource] | None = None) -> BoneMap:
    """A complete bone map or a RigMappingError saying which joints are missing and how to fix it."""
    bonemap, report = map_armature(obj, overrides)
    if report.missing:
        raise RigMappingError(f"{obj.name}: {report}")
    return bonemap


def scene_characters(scene: bpy.types.Scene, names: list[str] | None = None) -> list[tuple[bpy.types.Object, BoneMap]]:
    """Armatures to render with their bone maps.

    With ``names``: those objects. Else the panel's enabled characters; when the panel lists
    none (a .blend made without the add-on), every armature of the scene that maps.
    """
    if names:
        found = []
        for name in names:
            obj = scene.objects.get(name)
            if obj is None or obj.type != "ARMATURE":
                armatures = ", ".join(o.name for o in scene.objects if o.type == "ARMATURE") or "none"
                raise RigMappingError(f"No armature named {name!r} in scene {scene.name!r}; armatures: {armatures}.")
            found.append((obj, bonemap_for(obj, _panel_overrides(scene, obj))))
        return found
    listed = [c for c in scene.scail.characters if c.enabled and c.armature] if hasattr(scene, "scail") else []
    if listed:
        return [(c.armature, bonemap_for(c.armature, overrides_of(c))) for c in listed]
    found = []
    for obj in scene.objects:
        if obj.type == "ARMATURE":
            bonemap, report = map_armature(obj)
            if not report.missing:
                found.append((obj, bonemap))
    if not found:
        raise RigMappingError(f"No armature in scene {scene.name!r} maps to the SCAIL skeleton: add one in the "
                              "Characters panel and choose the missing bones by hand.")
    return found


def _panel_overrides(scene: bpy.types.Scene, obj: bpy.types.Object) -> dict[int, JointSource] | None:
    for character in getattr(getattr(scene, "scail", None), "characters", ()):
        if character.armature == obj:
            return overrides_of(character)
    return None
