"""Characters of a scene: which armatures render, and their bone maps.

With no characters named or listed in the panel, the characters are the armatures that would
render: visible in the view layer, not disabled in renders (themselves or a collection), not
in an excluded collection, not a Rigify metarig whose generated rig is in the scene, not an
animation-only armature (deforming no mesh) that copies a skinned one (same action, or its
skeleton lying on it), and mapping to the SCAIL skeleton. Every render reports what it used
and what it skipped, and why.

Renders never trust a stored bone map: they map again from the armature's bones and the
user's manual choices (the overrides), so renamed or re-parented bones can not leave a stale
map in the .blend. The last map and report are stored only for the panel and the viewport
overlay, which redraws too often to run the mapper each time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import bpy
import numpy as np

from ..errors import RigMappingError
from .armature import bone_infos, deformed_meshes, map_armature, sample_pose
from ..pose.skeleton import SMPL_JOINT_NAMES
from ..rig.bonemap import BoneMap, REQUIRED
from ..rig.bones import JointSource
from ..rig.structure import explain_structure, map_by_structure
from .scene_motion import Character
from .visibility import render_visibility_skip, view_layer


@dataclass(frozen=True)
class Advice:
    """What a refusal tells the user to do, in the controls of the front end they use: the
    panel in Blender, flags on the command line (``scail render-pose``)."""

    add: str  # a sentence: how to make an armature a character
    fix: str  # a clause: how to complete the map of an armature that does not map
    fewer: str  # a clause: how to render fewer characters


IN_BLENDER = Advice(
    add="Select the character's armature and press + under Characters in the Animate Character sidebar.",
    fix="press + under Characters with it selected and choose the missing joints under Manual bone choices",
    fewer="remove the ones to leave out from Characters in the Animate Character sidebar")
ON_COMMAND_LINE = Advice(
    add="Name the character's armature with --character (and give its --bonemap if it does not map).",
    fix="name it with --character and give its --bonemap (Save Bone Map in Blender writes one)",
    fewer="name the ones to render with --character")


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


def structure_choices(character) -> int:
    """Replace the character's manual choices by the body joints the structure mapper finds
    (one click for a rig with unknown names); returns how many joints were set."""
    bones = bone_infos(character.armature)
    guess = map_by_structure(bones)
    if guess is None:
        raise RigMappingError(f"'{character.armature.name}' does not look like a humanoid by its bones: "
                              f"{explain_structure(bones)}; choose the joints by hand")
    character.overrides.clear()
    for index, source in sorted(guess.body.items()):
        row = character.overrides.add()
        row.joint, row.end, row.bone = SMPL_JOINT_NAMES[index], source.end, source.bone
    remap_character(character)
    return len(guess.body)


def character_for(obj: bpy.types.Object, overrides: dict[str, JointSource] | None = None,
                  bonemap: BoneMap | None = None) -> Character:
    """A character with a complete bone map (``bonemap`` as given, else mapped now), or a
    RigMappingError saying what to fix."""
    check_armature_scale(obj)
    if bonemap is not None:
        return Character(obj, bonemap)
    bonemap, report = map_armature(obj, overrides)
    if not report.ok:
        raise RigMappingError(f"'{obj.name}': {report.summary()}")
    return Character(obj, bonemap, report=report)


def check_armature_scale(obj: bpy.types.Object) -> None:
    if abs(np.linalg.det(np.asarray(obj.matrix_world)[:3, :3])) < 1e-12:
        raise RigMappingError(f"'{obj.name}' is scaled to zero, so its joints all fall on one point; "
                              "reset its scale (Object properties > Transform > Scale)")


@dataclass
class CharacterChoice:
    """The characters a render uses and the armatures it leaves out, each with the reason."""

    used: list[Character]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    rule: str = ""

    def lines(self) -> list[str]:
        """The report every render prints: which armatures, why, and what to check in each map."""
        used = "; ".join(f"'{c.obj.name}' ({c.bonemap.preset or 'by hierarchy'})" for c in self.used)
        out = [f"characters ({self.rule}): {used}"]
        out += [f"skipped '{name}': {why}" for name, why in self.skipped]
        for character in self.used:
            if character.report is not None:
                out += [f"'{character.obj.name}': {note}" for note in character.report.suspicious]
        return out


def choose_characters(scene: bpy.types.Scene, names: list[str] | None = None,
                      bonemaps: list[BoneMap] | None = None, advice: Advice = IN_BLENDER) -> CharacterChoice:
    """Armatures to render with their bone maps, and those left out.

    With ``names``: those objects, ``bonemaps`` given in the same order. Else the panel's
    enabled characters. Else (a .blend made without the add-on) the armatures that would render
    (see ``default_rule_skip``) and map to the SCAIL skeleton; one ``bonemaps`` entry then needs
    exactly one such armature. ``advice`` words what to do when none would render (names and
    bone maps come from the command line only, so their refusals name its flags).
    """
    bonemaps = list(bonemaps or [])
    settings = getattr(scene, "scail", None)
    panel = {c.armature: overrides_of(c) for c in settings.characters if c.armature} if settings else {}
    if names:
        if len(bonemaps) > len(names):
            raise RigMappingError(f"{len(bonemaps)} bone maps for {len(names)} characters: give one --character "
                                  "per --bonemap, in the same order")
        found = []
        for k, name in enumerate(names):
            obj = scene.objects.get(name)
            if obj is None or obj.type != "ARMATURE":
                armatures = ", ".join(o.name for o in scene.objects if o.type == "ARMATURE") or "none"
                raise RigMappingError(f"No armature named {name!r} in scene {scene.name!r} "
                                      f"(armatures: {armatures}).")
            found.append(character_for(obj, panel.get(obj), bonemaps[k] if k < len(bonemaps) else None))
        return CharacterChoice(found, rule="named")
    listed = [c for c in settings.characters if c.armature] if settings else []
    if listed and not bonemaps:
        used = [character_for(c.armature, overrides_of(c)) for c in listed if c.enabled]
        skipped = [(c.armature.name, "unticked in the panel's Characters list") for c in listed if not c.enabled]
        if not used:
            raise RigMappingError("Every character in the panel's list is unticked: tick the ones to render.")
        return CharacterChoice(used, skipped, rule="the panel's list")
    return _default_characters(scene, bonemaps, advice)


def _default_characters(scene: bpy.types.Scene, bonemaps: list[BoneMap], advice: Advice) -> CharacterChoice:
    view_layer(scene).update()  # evaluated poses for the copy check; changes no data
    armatures = [o for o in scene.objects if o.type == "ARMATURE"]
    skipped: list[tuple[str, str]] = []
    shown = []
    for obj in armatures:
        why = render_visibility_skip(scene, obj) or rigify_metarig_skip(scene, obj, armatures)
        if why:
            skipped.append((obj.name, why))
        else:
            shown.append(obj)
    if bonemaps:
        if len(bonemaps) > 1 or len(shown) != 1:
            names = ", ".join(o.name for o in shown) or "none"
            raise RigMappingError(f"A bone map file needs its armature named: give --character NAME (armatures "
                                  f"that would render: {names}).")
        return CharacterChoice([character_for(shown[0], bonemap=bonemaps[0])], skipped, rule=RULE)
    mapped = []
    for obj in shown:
        check_armature_scale(obj)
        bonemap, report = map_armature(obj)
        if report.ok:
            mapped.append(Character(obj, bonemap, report=report))
        else:
            skipped.append((obj.name, "does not map to the SCAIL skeleton (missing "
                            + ", ".join(report.missing_required) + f"); {advice.fix}"))
    used = []
    for character in mapped:
        why = animation_copy_skip(scene, character, mapped)
        if why:
            skipped.append((character.obj.name, why))
        else:
            used.append(character)
    if not used:
        details = "; ".join(f"'{n}': {w}" for n, w in skipped) or "the scene has no armature"
        raise RigMappingError(f"No armature in scene {scene.name!r} would render as a SCAIL character ({details}). "
                              + advice.add)
    return CharacterChoice(used, skipped, rule=RULE)


RULE = "the armatures that would render"


def rigify_metarig_skip(scene: bpy.types.Scene, obj: bpy.types.Object, armatures: list[bpy.types.Object]) -> str:
    """A Rigify metarig is only the template of its generated rig: skipped when that rig is here.

    The generated rig carries ``rig_id`` and an ``ORG-`` copy of every metarig bone; Rigify's
    own link (``rigify_target_rig``) is read too when the add-on is enabled."""
    target = getattr(obj.data, "rigify_target_rig", None)
    if target is not None and target in armatures and target is not obj:
        return f"the Rigify metarig of '{target.name}'"
    names = set(obj.data.bones.keys())
    if not names or obj.data.get("rig_id") is not None:
        return ""
    generated = [other for other in armatures if other is not obj and other.data.get("rig_id") is not None
                 and sum(f"ORG-{n}" in other.data.bones for n in names) >= 0.8 * len(names)]
    generated.sort(key=lambda other: not deforms_a_mesh(scene, other))  # the skinned one first
    return f"the Rigify metarig of '{generated[0].name}'" if generated else ""


def animation_copy_skip(scene: bpy.types.Scene, character: Character, mapped: list[Character]) -> str:
    """An armature that deforms no mesh, next to a skinned one it copies, is an animation-only
    import of the same character: same action, or a skeleton lying on the other at this frame."""
    if deforms_a_mesh(scene, character.obj):
        return ""
    action = _action(character.obj)
    here = sample_pose(character.obj, character.bonemap)[list(REQUIRED)]
    for other in mapped:
        if other is character or not deforms_a_mesh(scene, other.obj):
            continue
        if action is not None and action == _action(other.obj):
            return f"an animation-only copy of '{other.obj.name}' (same action '{action.name}', no mesh of its own)"
        there = sample_pose(other.obj, other.bonemap)[list(REQUIRED)]
        size = float(np.nanmax(np.ptp(there, axis=0)))
        if size > 0 and float(np.nanmean(np.linalg.norm(here - there, axis=1))) < 0.05 * size:
            return (f"an animation-only copy of '{other.obj.name}' (its skeleton lies on it at frame "
                    f"{scene.frame_current}, no mesh of its own)")
    return ""


def deforms_a_mesh(scene: bpy.types.Scene, armature: bpy.types.Object) -> bool:
    return any(mesh.name in scene.objects for mesh in deformed_meshes(armature))


def _action(obj: bpy.types.Object):
    data = obj.animation_data
    return data.action if data is not None else None


def scene_characters(scene: bpy.types.Scene, names: list[str] | None = None) -> list[Character]:
    """The characters ``choose_characters`` picks (for callers that need no report)."""
    return choose_characters(scene, names).used
