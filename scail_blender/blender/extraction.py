"""Extract Motion from Video, Blender's side: an ``ExtractJob`` on the job board.

The job goes to the preferences' backend like a generation: Blender's own runner (the same one,
so an extraction queued behind a generation waits for the GPU instead of sharing it) or the job
server's ``POST /v1/extract``. When it succeeds, the board imports the motion file with Import
Motion's own code path on the main thread.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from ..jobs.contract import ExtractJob, ExtractSettings
from . import backends, board, prefs


def start(context: bpy.types.Context, video: str, align_ref: str | None, settings: ExtractSettings,
          output: str) -> board.JobRecord:
    """Queue the extraction on the preferences' backend: a row on the job board."""
    job = ExtractJob(video=video, align_ref=align_ref, settings=settings, weights=prefs.pose_weights_dir(context),
                     output=output)
    job.validate()
    return board.send("extract", f"motion of {Path(video).name}", backends.chosen(context, generate=False), job)


def latest() -> board.JobRecord | None:
    """The extraction added last (running or finished), for the Motion panel."""
    return next((r for r in reversed(board.records.values()) if r.kind == "extract"), None)
