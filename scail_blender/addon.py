"""The Blender skin's registration: every bpy class of the extension, in order."""

from __future__ import annotations

import bpy

CLASSES: list[type] = []


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
