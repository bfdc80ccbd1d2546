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
        record = extraction.latest()
        col = layout.column(align=True)
        col.operator("scail.extract_motion", icon="FILE_MOVIE")
        col.operator("scail.import_motion", text="Import Motion File", icon="IMPORT")
        if record is None:
            return
        if not record.final:
            row = layout.row(align=True)
            row.progress(factor=record.status.progress, text=record.line())
            row.operator("scail.job_cancel", text="", icon="CANCEL").key = record.key
        else:
            layout.label(text=record.line(), icon="ERROR" if record.error else "INFO")


CLASSES = (SCAIL_PT_motion,)
