"""Results into the scene: a generation's strip, an extraction's armatures.

The job board calls these on the main thread when a job's result is ready; the scene-rate copy
of a generation is made before, in a worker thread, so the timer only adds a strip.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

from ..errors import InputError
from ..jobs.status import JobStatus
from .sequencer import place_movie

log = logging.getLogger(__name__)


@dataclass
class Placement:
    """Where and how a result goes into the Sequencer: plain values taken when the job was sent."""

    blend: str  # bpy.data.filepath when sent: a result lands only in the file it was made for
    scene: str
    frame_start: int
    channel: int  # lowest channel the result may use: the one above its pose strip
    scene_fps: float
    prompt: str
    seed: int


def scene_rate_copy(status: JobStatus, scene_fps: float) -> dict[str, Any]:
    """The file and frame count a strip plays: the result itself, or a copy at the scene's rate
    (any thread: no bpy)."""
    from ..pose.outputs import write_scene_rate_copy

    r = status.result
    assert r is not None
    if abs(r.fps - scene_fps) < 1e-6:
        return {"strip_file": r.output, "strip_frames": r.frames}
    path, frames = write_scene_rate_copy(Path(r.output), r.fps, r.frames, (r.height, r.width), scene_fps)
    return {"strip_file": str(path), "strip_frames": frames}


def place_result(p: Placement, path: Path, frames: int, job_id: str) -> str:
    """A finished generation as a movie strip above its pose strip, in the file it was made for;
    the strip's name. InputError when that file or scene is not open any more."""
    scene = bpy.data.scenes.get(p.scene)
    if bpy.data.filepath != p.blend or scene is None:
        where = f"{p.blend or 'an unsaved file'}, scene {p.scene!r}"
        raise InputError(f"done, but its file ({where}) is not open: the result is {path}")
    name = f"SCAIL {p.seed}: {p.prompt}"[:60] if p.prompt else f"SCAIL {p.seed}"
    strip = place_movie(scene, path, p.frame_start, frames, name=name, min_channel=p.channel)
    strip["scail_prompt"] = p.prompt
    strip["scail_seed"] = p.seed
    strip["scail_job"] = job_id
    return strip.name


def import_motion(status: JobStatus) -> str:
    """A finished extraction imported as armatures with Import Motion's own code path; what was
    imported, in words. A motion file that does not import raises its ScailError."""
    from .build_rig import import_motion_file

    motion_file = status.result.output
    with context_override():
        loaded, prepared, armatures = import_motion_file(motion_file, bpy.context)
    for note in [*loaded.notes, *prepared.notes, *status.result.notes]:
        log.info("extract motion: %s", note)
    return (f"imported {len(armatures)} armature(s) ({', '.join(a.name for a in armatures)}), "
            f"{prepared.motion.frames} frames from {Path(motion_file).name}")


def context_override():
    """A window for the import's mode switches when the drain runs from a timer (no window there)."""
    window = bpy.context.window or next(iter(bpy.context.window_manager.windows), None)
    return bpy.context.temp_override(window=window) if window is not None else contextlib.nullcontext()
