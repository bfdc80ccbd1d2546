"""The few Blender API differences between 4.2 LTS and 5.0 that this add-on touches.

Blender 4.4 renamed the sequencer's ``sequences`` to ``strips`` (both exist in 4.4-4.5;
5.0 keeps only ``strips``). Everything else the add-on uses is stable across 4.2-5.0.
"""

from __future__ import annotations

import bpy


def strips(editor: bpy.types.SequenceEditor):
    """Top-level strips of a sequence editor (``strips`` on 4.4+, ``sequences`` before)."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences

