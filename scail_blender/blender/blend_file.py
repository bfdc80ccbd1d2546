"""``scail render-pose --blend``: open a saved .blend in the bpy module and render its scene.

Kept apart from the panel's render because a command-line run owns the whole process: Blender's
own Ctrl-C handler and the chatter its C code prints on stdout while opening a file must be
undone here, and neither concerns a render started from the panel.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bpy

from ..errors import InputError
from ..pose.outputs import PoseFiles
from .characters import ON_COMMAND_LINE, Advice
from .reference_render import plan_reference, render_reference
from .reference_views import render_views
from .scene_render import PoseRender, plan_pose_render, render_pose_video


def render_blend_file(blend: Path, out: Path, report=None, advice: Advice = ON_COMMAND_LINE,
                      **options) -> tuple[PoseRender, PoseFiles]:
    """Open ``blend`` and render its active scene (``options`` as for ``plan_pose_render``): the
    command line's entry, so refusals name its flags unless ``advice`` says otherwise.

    ``report`` receives the plan's report lines (camera framing, characters used and skipped)
    before the render starts. The file is only read: no strip is added, because nothing saves
    the opened file.
    """
    blend = Path(blend)
    if not blend.is_file():
        raise InputError(f"{blend} does not exist: give the path of a saved .blend file.")
    from .props import ensure_registered

    ensure_registered()
    try:
        with _blender_chatter_to_stderr():
            bpy.ops.wm.open_mainfile(filepath=str(blend), load_ui=False)
        _python_signal_handlers_back()
    except RuntimeError as exc:
        raise InputError(f"Blender could not open {blend} ({str(exc).strip()}): is it a .blend file?") from exc
    plan = plan_pose_render(bpy.context.scene, out, add_strip=False, advice=advice, **options)
    for line in plan.report_lines():
        (report or print)(line)
    return plan, render_pose_video(plan)


def render_blend_reference(plan: PoseRender, image: Path, mask: Path, *, mode: str = "animation",
                           frame: int | None = None, camera: str | None = None, engine: str = "EEVEE",
                           views: list[str] | None = None, report=None) -> list[tuple[Path, Path]]:
    """After ``render_blend_file``: the SCAIL-2 reference of the same characters, colours as in the
    pose render's first frame, framed as that frame (unless ``frame``/``camera`` say otherwise),
    and its turntable ``views`` as extra references beside it; returns their (image, mask) paths."""
    reference = plan_reference(plan.scene, image, mask, chosen=plan.characters, camera=camera, frame=frame,
                               size=plan.size, framing=plan.framing, engine=engine, mode=mode,
                               pose_start=plan.frame_start, pose_camera=plan.camera.name, advice=ON_COMMAND_LINE)
    render_reference(reference)
    extra = render_views(reference, views) if views else []
    for line in reference.notes:
        (report or print)(f"scail: {line}")
    return extra


def _python_signal_handlers_back() -> None:
    """Blender installs its own C handler for Ctrl-C, which swallows the first one: put Python's
    handlers back so Ctrl-C and SIGTERM unwind the render and its clean-up runs."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):
            signal.signal(signum, handler)


# Lines Blender prints on stdout while opening a file that say nothing to a command-line user:
# "Read blend: ..." and, for every rig with a UI script (Rigify's rig_ui.py), "scripts disabled".
_CHATTER = ("Read blend:", "scripts disabled for")


@contextmanager
def _blender_chatter_to_stderr() -> Iterator[None]:
    """Keep stdout for the command's own output: Blender's C code prints there while opening a
    file, so its file descriptor is captured; the known chatter is dropped, anything else goes to
    stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 1)
        try:
            yield
        finally:
            ctypes.CDLL(None).fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not any(marker in line for marker in _CHATTER):
                    print(line, file=sys.stderr)
