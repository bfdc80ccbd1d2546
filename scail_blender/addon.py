"""The Blender skin's registration: every bpy class of the extension, in order."""

from __future__ import annotations

import bpy

from .operators import motion_io

CLASSES: list[type] = [
    *motion_io.CLASSES,
]


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    motion_io.register_menus()


def unregister() -> None:
    motion_io.unregister_menus()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
