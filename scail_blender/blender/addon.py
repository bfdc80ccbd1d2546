"""The Blender skin's registration: every bpy class of the extension, in order.

Property groups come first (pointers need their types registered), panels last (they draw
operators and properties). Nothing here imports torch, so enabling the add-on is instant.
"""

from __future__ import annotations

import bpy

from . import backends, board, draw, prefs, props, ui, ui_motion, ui_scail2
from ..operators import camera, characters, extract, generate, loras, motion_io, reference, render_pose

CLASSES: list[type] = [
    *props.CLASSES,
    prefs.ScailPreferences,
    *camera.CLASSES,
    *characters.CLASSES,
    *render_pose.CLASSES,
    *motion_io.CLASSES,
    *extract.CLASSES,
    *generate.CLASSES,
    *loras.CLASSES,
    *reference.CLASSES,
    *ui.CLASSES,
    *ui_motion.CLASSES,
    *ui_scail2.CLASSES,
]


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    props.register()
    motion_io.register_menus()
    draw.register()
    board.register()
    backends.register()


def unregister() -> None:
    backends.unregister()
    board.unregister()
    draw.unregister()
    motion_io.unregister_menus()
    props.unregister()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
