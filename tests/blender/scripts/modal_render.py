"""Drive Render Pose Video's modal() with the timer and Esc events a window would send
(background Blender has no event loop): once cancelled after one step, once to the end.

Parameters: ``out``, the pose video's path.
"""

import time
from pathlib import Path
from types import SimpleNamespace

import bpy

from scail_blender.blender import compat
from scail_blender.blender.scene_render import PoseRenderJob, plan_pose_render
from scail_blender.operators.render_pose import TICK_S, SCAIL_OT_render_pose

from tests.blender.scripts.common import add_camera, addon_scene, emit, params

OUT = Path(params()["out"])
scene, _, _ = addon_scene()
add_camera(scene)
scene.frame_end = 30
scene.frame_set(7)
wm = bpy.context.window_manager


def drive(esc_after=None):
    reports = []
    op = SimpleNamespace(report=lambda level, text: reports.append((sorted(level)[0], text)))
    op._job = PoseRenderJob(plan_pose_render(scene, OUT))
    op._timer = wm.event_timer_add(TICK_S, window=bpy.context.window)
    op._end = SCAIL_OT_render_pose._end.__get__(op)
    wm.scail_job.running = True
    seen, steps = [], 0
    while True:
        kind = "ESC" if steps == esc_after else "TIMER"
        result = SCAIL_OT_render_pose.modal(op, bpy.context, SimpleNamespace(type=kind))
        steps += 1
        seen.append(round(wm.scail_job.progress, 3))
        time.sleep(TICK_S)  # the timer's interval, during which Blender is idle
        if result & {"FINISHED", "CANCELLED"}:
            return {"result": sorted(result), "reports": reports, "running": wm.scail_job.running,
                    "rising": seen == sorted(seen), "steps": steps, "frame": scene.frame_current,
                    "strips": len(compat.strips(scene.sequence_editor)) if scene.sequence_editor else 0}


cancelled = drive(esc_after=1)
finished = drive()
emit({"cancelled": cancelled, "finished": finished})
