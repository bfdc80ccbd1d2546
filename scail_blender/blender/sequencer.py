"""Put a rendered video into the Video Sequencer so it plays in step with the scene.

Blender gives a movie strip one scene frame per video frame whatever the file's rate, so the
caller hands us a file already encoded at the scene's frame rate (see ``pose_video``); here we
only choose a channel that is free over the strip's span and replace a strip left by an
earlier render of the same file. Call from the main thread: the sequencer's prefetch and
caches are paused meanwhile so no background job reads a strip while it changes.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import bpy

from .compat import strips
from ..errors import InputError

MAX_CHANNEL = 128
_PAUSED = ("use_prefetch", "use_cache_raw", "use_cache_final")


def free_channel(editor: bpy.types.SequenceEditor, start: int, end: int, lowest: int = 1) -> int:
    """Lowest channel from ``lowest`` up with no strip in the frames [start, end)."""
    used = {s.channel for s in strips(editor) if s.frame_final_start < end and start < s.frame_final_end}
    for channel in range(max(1, lowest), MAX_CHANNEL + 1):
        if channel not in used:
            return channel
    raise InputError(f"Every sequencer channel is busy between frames {start} and {end}: "
                     "free a channel or move some strips.")


@contextmanager
def _paused(editor: bpy.types.SequenceEditor):
    saved = {name: getattr(editor, name) for name in _PAUSED if hasattr(editor, name)}
    for name in saved:
        setattr(editor, name, False)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(editor, name, value)


def _same_file(a: str, b: str) -> bool:
    return Path(bpy.path.abspath(a)).resolve() == Path(bpy.path.abspath(b)).resolve()


def _blend_relative(path: Path) -> str:
    """``//``-relative like files Blender's own UI adds, so the project folder can move."""
    if not (bpy.data.filepath and bpy.context.preferences.filepaths.use_relative_paths):
        return str(path)
    try:
        return bpy.path.relpath(str(path))
    except ValueError:  # another drive on Windows
        return str(path)


def place_movie(scene: bpy.types.Scene, path: Path, frame_start: int, frames: int, name: str = "SCAIL Pose",
                min_channel: int = 1):
    """Add ``path`` (``frames`` long at scene rate) as a movie strip starting at ``frame_start``,
    on the lowest free channel from ``min_channel`` up (a result goes above its pose strip).

    Strips of the same file from an earlier render are removed first, so re-rendering
    replaces the strip instead of stacking copies.
    """
    editor = scene.sequence_editor or scene.sequence_editor_create()
    with _paused(editor):
        for old in [s for s in strips(editor) if s.type == "MOVIE" and _same_file(s.filepath, str(path))]:
            strips(editor).remove(old)
        channel = free_channel(editor, frame_start, frame_start + frames, min_channel)
        strip = strips(editor).new_movie(name, _blend_relative(path), channel=channel, frame_start=frame_start)
        strip.frame_final_duration = frames
        return strip


def find_movie(scene: bpy.types.Scene, paths: list[Path]):
    """The first movie strip playing one of ``paths`` (the pose video or its scene-rate copy), or None."""
    editor = scene.sequence_editor
    if editor is None:
        return None
    for path in paths:
        for strip in strips(editor):
            if strip.type == "MOVIE" and _same_file(strip.filepath, str(path)):
                return strip
    return None
