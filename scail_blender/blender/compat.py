"""Every Blender API this extension calls that is not the same from 4.2 LTS to 5.0.

Checked against the bpy modules 4.2.23, 4.3.0, 4.4.0, 4.5.15 and 5.0.1; every other caller
goes through here, so supporting a new Blender means changing this file only.

- Sequencer: 4.4 renamed ``sequences`` to ``strips`` (both exist in 4.4-4.5; 5.0 keeps only
  ``strips``).
- Actions: 4.4 made actions slotted (F-curves live in a channelbag per slot, reached through
  layers and strips) and added ``Action.fcurve_ensure_for_datablock(datablock, data_path,
  index)``; 5.0 added its ``group_name`` argument and removed the legacy ``Action.fcurves``,
  which is all 4.2-4.3 have.
- Render engines: Eevee is ``BLENDER_EEVEE_NEXT`` on 4.2-4.5 and ``BLENDER_EEVEE`` again on 5.0.
- Extension folders: ``bpy.utils.extension_path_user`` takes the same arguments on every
  supported version and raises ``ValueError`` for a package that is not an extension.
"""

from __future__ import annotations

from pathlib import Path

import bpy


def strips(editor: bpy.types.SequenceEditor):
    """Top-level strips of a sequence editor (``strips`` on 4.4+, ``sequences`` before)."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def _slotted(action: bpy.types.Action) -> bool:
    """Whether ``action`` is a 4.4+ slotted action (else a 4.2-4.3 one with ``action.fcurves``)."""
    return hasattr(action, "fcurve_ensure_for_datablock")


def fcurve_ensure(action: bpy.types.Action, datablock: bpy.types.ID, data_path: str, index: int = 0,
                  group: str = "") -> bpy.types.FCurve:
    """The F-curve of ``action`` for ``data_path[index]`` of ``datablock``, made if missing, in the
    channel group ``group`` when one is named (the Graph Editor folds curves by group).

    ``action`` must already be assigned to ``datablock`` (4.4+ pick its slot from there).
    """
    if not _slotted(action):
        curve = action.fcurves.find(data_path, index=index)
        return curve or action.fcurves.new(data_path, index=index, action_group=group)
    curve = action.fcurve_ensure_for_datablock(datablock, data_path, index=index)
    if group and (curve.group is None or curve.group.name != group):
        bag = _channelbag(action, datablock)
        curve.group = bag.groups.get(group) or bag.groups.new(group)
    return curve


def fcurves(datablock: bpy.types.ID) -> list[bpy.types.FCurve]:
    """The F-curves that animate ``datablock``: its action's (4.2-4.3) or its slot's (4.4+); [] without."""
    data = datablock.animation_data
    action = data.action if data is not None else None
    if action is None:
        return []
    if not _slotted(action):
        return list(action.fcurves)
    bag = _channelbag(action, datablock)
    return list(bag.fcurves) if bag is not None else []


def _channelbag(action: bpy.types.Action, datablock: bpy.types.ID):
    """The channelbag of the slot ``datablock`` uses in ``action`` (4.4+), or None before it has keys."""
    slot = datablock.animation_data.action_slot
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot) if slot is not None else None
            if bag is not None:
                return bag
    return None


def eevee_engine() -> str:
    """The identifier of Eevee on the running Blender (see the module docstring)."""
    items = bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items.keys()
    return next((name for name in items if name.startswith("BLENDER_EEVEE")), "BLENDER_EEVEE")


def extension_user_folder(package: str) -> Path:
    """The extension's own user folder (Blender keeps it across updates), created if needed.

    Raises ``ValueError`` when ``package`` is not installed as an extension (a legacy add-on,
    scripts and tests that import the package directly).
    """
    return Path(bpy.utils.extension_path_user(package, create=True))


def config_folder(name: str) -> Path:
    """``name`` under Blender's user config folder, created if needed (for a legacy add-on)."""
    return Path(bpy.utils.user_resource("CONFIG", path=name, create=True))
