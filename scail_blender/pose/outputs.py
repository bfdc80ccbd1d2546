"""All files of one pose render, written together from a stream of frames.

A render from Blender produces the pose video at SCAIL's rate, a copy at the scene's rate for
the Sequencer (each pose frame repeated for as long as it is on screen) and optionally PNG
frames. They are written in one pass so each frame is rendered once, and they succeed or fail
together: on error or cancel no output of this render is left behind (the PNGs commit last, so
a video that cannot be put in place never costs the frames folder anything). Which paths may be
written at all is ``scail_blender.outputs``' decision, made before the render starts. Runs in a
worker thread: no bpy here, cancellation arrives through a threading.Event.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..outputs import FRAME_NAME
from ..progress import Progress, ProgressCallback, check_cancel, no_progress
from ..media.video import PngSequenceWriter, VideoWriter


@dataclass(frozen=True)
class PoseFiles:
    video: Path
    frames: int
    strip_video: Path | None = None
    strip_frames: int = 0
    frames_dir: Path | None = None
    # Numbered frames that were in frames_dir before and that this render did not replace.
    frames_kept: tuple[str, ...] = ()
    # What the user should know about the result (empty frames, kept frames), one line each.
    warnings: tuple[str, ...] = ()
    # The SCAIL-2 driving mask written beside the pose video, if one was asked for.
    mask: Path | None = None
    # MultiAnimate's character mask videos written beside it, in identity order, if asked for.
    character_masks: tuple[Path, ...] = ()

    def remove(self) -> None:
        """Take back every file of this render (a later step of the same render failed)."""
        _remove([path for path in (self.video, self.strip_video, self.frames_dir, self.mask, *self.character_masks)
                 if path is not None], self.frames)


def strip_video_path(video: Path, scene_fps: float) -> Path:
    """Where the scene-rate copy of ``video`` goes: ``pose.mp4`` -> ``pose.24fps.mp4``."""
    rate = f"{scene_fps:g}".replace(".", "_")
    return video.with_name(f"{video.stem}.{rate}fps{video.suffix}")


def write_pose_files(frames: Iterable[np.ndarray], size: tuple[int, int], fps: float, video: Path, *,
                     total: int, strip: tuple[Path, float, Sequence[int]] | None = None,
                     frames_dir: Path | None = None, progress: ProgressCallback = no_progress,
                     cancel: threading.Event | None = None) -> PoseFiles:
    """Encode ``total`` frames to ``video`` and, if asked, the scene-rate copy and PNGs.

    ``strip`` is (path, scene fps, pose frame index for each scene frame) as given by
    ``timing.scene_rate_indices``.
    """
    repeats = Counter(strip[2]) if strip else Counter()
    if strip and (min(repeats) < 0 or max(repeats) >= total):
        raise InputError(f"The scene-rate copy refers to pose frames outside 0..{total - 1}")
    committed: list[Path] = []

    def enter(writer, target: Path):
        # Registered before the writer so it runs right after the writer's exit and sees
        # whether that exit committed the file (exit status None) or failed.
        stack.push(lambda exc_type, *_: committed.append(target) if exc_type is None else None)
        return stack.enter_context(writer)

    try:
        with ExitStack() as stack:
            # Entered first, so it exits (commits) last.
            pngs = enter(PngSequenceWriter(frames_dir), frames_dir) if frames_dir else None
            main = enter(VideoWriter(video, fps, size), video)
            copy = enter(VideoWriter(strip[0], strip[1], size, preset="ultrafast"), strip[0]) if strip else None
            written = _stream(frames, main, copy, pngs, repeats, total, progress, cancel)
    except BaseException:
        _remove(committed, total)
        raise
    progress(Progress("done", written, written, f"wrote {video}"))
    return PoseFiles(video=video, frames=written, strip_video=strip[0] if strip else None,
                     strip_frames=len(strip[2]) if strip else 0, frames_dir=frames_dir,
                     frames_kept=tuple(pngs.kept) if pngs else ())


def _stream(frames, main, copy, pngs, repeats: Counter, total: int, progress: ProgressCallback,
            cancel: threading.Event | None) -> int:
    written = 0
    for frame in frames:
        check_cancel(cancel)
        main.write(frame)
        if pngs is not None:
            pngs.write(frame)
        for _ in range(repeats[written] if copy else 0):
            copy.write(frame)
        written += 1
        progress(Progress("render", written, total, f"pose frame {written}/{total}"))
    if written != total:
        raise InputError(f"Expected {total} pose frames but the renderer gave {written}")
    progress(Progress("encode", total, total, "finishing the video"))
    return written


def _remove(paths: list[Path], frames: int) -> None:
    """Undo outputs that were already committed when a later one failed; in a frames folder only
    the frames this render wrote."""
    for path in paths:
        if path.is_dir():
            for index in range(frames):
                (path / FRAME_NAME.format(index)).unlink(missing_ok=True)
        else:
            path.unlink(missing_ok=True)


def write_scene_rate_copy(video: Path, fps: float, frames: int, size: tuple[int, int], scene_fps: float
                          ) -> tuple[Path, int]:
    """Write ``video`` again at the scene's rate, as the pose strip's copy is written.

    Blender plays one video frame per scene frame, so a 16 fps result in a 24 fps scene would
    run 1.5x too fast; each frame is repeated for as long as it is on screen instead (the same
    ``scene_rate_indices`` rule as the pose video). Returns the copy and its length in scene frames.
    """
    from ..timing import EPS, scene_rate_indices
    from ..media.video import read_video

    span = math.floor((frames - 1) * scene_fps / fps + EPS)
    indices = scene_rate_indices(0, span, scene_fps, fps)
    repeats = Counter(indices)
    target = strip_video_path(video, scene_fps)
    with VideoWriter(target, scene_fps, size, preset="ultrafast") as copy:
        for k, frame in enumerate(read_video(video, exact_count=False)):
            for _ in range(repeats[k]):
                copy.write(frame)
    return target, len(indices)
