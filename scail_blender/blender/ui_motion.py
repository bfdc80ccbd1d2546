"""The "Motion" panel of the Animate Character sidebar: motion in from videos and files.

A panel of its own next to the Generate / Jobs panels of ``ui.py``, so motion import and
extraction can change without touching them.
"""

from __future__ import annotations

import bpy

from . import extraction
from .ui import CATEGORY


class SCAIL_PT_motion(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY
    bl_label = "Motion"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        task = extraction.current()
        col = layout.column(align=True)
        col.operator("scail.extract_motion", icon="FILE_MOVIE")
        col.operator("scail.import_motion", text="Import Motion File", icon="IMPORT")
        if task is None:
            return
        if not task.done:
            row = layout.row(align=True)
            row.progress(factor=task.progress, text=task.message)
            row.operator("scail.extract_cancel", text="", icon="CANCEL")
        else:
            layout.label(text=task.message, icon="INFO")


CLASSES = (SCAIL_PT_motion,)
