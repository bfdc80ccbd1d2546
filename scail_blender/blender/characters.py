"""Characters of a scene: which armatures render, and their bone maps.

Renders never trust a stored bone map: they map again from the armature's bones and the
user's manual choices (the overrides), so renamed or re-parented bones can not leave a stale
map in the .blend. The last map and report are stored only for the panel and the viewport
overlay, which redraws too often to run the mapper each time.
"""

from __future__ import annotations

import json

import bpy

from ..errors import RigMappingError
from .armature import map_armature
from ..rig.bonemap import JointSource
from .scene_motion import Character


def overrides_of(character) -> dict[str, JointSource]:
    """The panel's manual bone choices in the mapper's format (SMPL joint name -> bone end)."""
    return {o.joint: JointSource(o.bone, o.end) for o in character.overrides if o.bone}


def remap_character(character) -> None:
    """Map again and store the report shown in the panel."""
    obj = character.armature
    character.bonemap_json = ""
    if obj is None:
        character.mapped, character.preset = False, ""
        character.report = "The armature was deleted: remove this character."
        return
    try:
        bonemap, report = map_armature(obj, overrides_of(character))
    except RigMappingError as exc:
        character.mapped, character.preset, character.report = False, "", str(exc)
        return
    character.mapped = report.ok
    character.preset = bonemap.preset
    character.report = report.summary()
    character.bonemap_json = json.dumps(bonemap.to_dict()) if report.ok else ""


def character_for(obj: bpy.types.Object, overrides: dict[str, JointSource] | None = None) -> Character:
    """A character with a complete bone map, or a RigMappingError saying what to fix."""
    bonemap, report = map_armature(obj, overrides)
    if not report.ok:
        raise RigMappingError(f"'{obj.name}': {report.summary()}")
    return Character(obj, bonemap)


def scene_characters(scene: bpy.types.Scene, names: list[str] | None = None) -> list[Character]:
    """Armatures to render with their bone maps.

    With ``names``: those objects. Else the panel's enabled characters; when the panel lists
    none (a .blend made without the add-on), every armature of the scene that maps.
    """
    settings = getattr(scene, "scail", None)
    panel = {c.armature: overrides_of(c) for c in settings.characters if c.armature} if settings else {}
    if names:
        found = []
        for name in names:
            obj = scene.objects.get(name)
            if obj is None or obj.type != "ARMATURE":
                armatures = ", ".join(o.name for o in scene.objects if o.type == "ARMATURE") or "none"
                raise RigMappingError(f"No armature named {name!r} in scene {scene.name!r} "
                                      f"(armatures: {armatures}).")
            found.append(character_for(obj, panel.get(obj)))
        return found
    listed = [c for c in settings.characters if c.enabled and c.armature] if settings else []
    if listed:
        return [character_for(c.armature, overrides_of(c)) for c in listed]
    found = []
    for obj in scene.objects:
        if obj.type == "ARMATURE":
            bonemap, report = map_armature(obj)
            if report.ok:
                found.append(Character(obj, bonemap))
    if not found:
        raise RigMappingError(f"No armature in scene {scene.name!r} maps to the SCAIL skeleton: add it in the "
                              "Characters panel and choose the missing bones by hand.")
    return found
