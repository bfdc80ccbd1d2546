"""Sequencer placement with real ffmpeg-encoded clips in the bpy module (fresh process each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scail_blender.pose.video import VideoWriter

from tests.support import run_python


def write_clip(path: Path, frames: int, fps: float) -> Path:
    with VideoWriter(path, fps, (32, 64)) as video:
        for k in range(frames):
            video.write(np.full((32, 64, 3), 10 * k, np.uint8))
    return path


def test_strip_lands_on_free_channel_and_replaces_its_old_copy(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "pose.24fps.mp4", 12, 24)
    other = write_clip(tmp_path / "other.mp4", 30, 24)
    proc = run_python(f"""
        import bpy
        from scail_blender.blender.compat import strips
        from scail_blender.blender.sequencer import place_movie
        scene = bpy.context.scene
        scene.render.fps = 24
        editor = scene.sequence_editor_create()
        editor.use_prefetch = True
        strips(editor).new_movie("busy", {str(other)!r}, channel=1, frame_start=1)
        strip = place_movie(scene, {str(clip)!r}, 10, 12)
        print("first", strip.channel, strip.frame_final_start, strip.frame_final_duration)
        again = place_movie(scene, {str(clip)!r}, 40, 12)
        names = sorted(s.name for s in strips(editor))
        print("again", again.channel, again.frame_final_start, again.frame_final_duration, len(names))
        print("prefetch", editor.use_prefetch)
        """)
    lines = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    assert lines["first"] == "2 10 12"  # channel 1 is busy over frames 1-30
    assert lines["again"] == "1 40 12 2"  # frames 40-51 are free on channel 1; old copy removed
    assert lines["prefetch"] == "True"  # restored after the change
