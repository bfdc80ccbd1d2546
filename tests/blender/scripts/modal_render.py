"""Drive a pose render with its SCAIL-2 mask on the job board with the timer calls a window's
event loop would make (background Blender fires no timers): once cancelled after one slice, once
to the end.

Parameters: ``out``, the pose video's path.
"""

import time
from pathlib import Path

import bpy

from scail_blender.blender import board, compat
from scail_blender.blender.scene_render import PoseRenderJob, plan_pose_render

from tests.blender.scripts.common import add_camera, addon_scene, emit, params

OUT = Path(params()["out"])
MASK = OUT.with_name("mask.mp4")  # the SCAIL-2 mask, made in its own thread while the scene is read
scene, _, _ = addon_scene()
add_camera(scene)
scene.frame_end = 30
scene.frame_set(7)


def drive(cancel_after=None):
    record = board.add_render("pose video", PoseRenderJob(plan_pose_render(scene, OUT, mask_out=MASK)))
    blocked = not bpy.ops.scail.render_pose.poll()  # one render at a time: the scene is shared
    seen, ticks = [], 0
    while not record.final:
        if ticks == cancel_after:
            bpy.ops.scail.job_cancel(key=record.key)
        board.drain()
        ticks += 1
        seen.append(round(record.status.progress, 3))
        time.sleep(board.RENDER_SLICE_S)  # Blender is idle between timer calls
    return {"state": record.status.state, "line": record.line(), "rising": seen == sorted(seen), "ticks": ticks,
            "render_poll_blocked_while_running": blocked, "render_poll_blocked": not bpy.ops.scail.render_pose.poll(),
            "frame": scene.frame_current, "mask": MASK.exists(), "strips": len(compat.strips(scene.sequence_editor)) if scene.sequence_editor else 0}


cancelled = drive(cancel_after=1)
finished = drive()
emit({"cancelled": cancelled, "finished": finished})
