"""Cancel a pose render while it reads frames and while it encodes, then abort it both ways as
Blender does when it closes the operator; report each outcome and whether the scene is as it was.

Parameters: ``out``, ``frames_dir``.
"""

from pathlib import Path

from scail_blender.blender.scene_render import PoseRenderJob, plan_pose_render
from scail_blender.errors import Cancelled

from tests.blender.scripts.common import dancer_scene, emit, params, scene_state

p = params()
scene, _, _ = dancer_scene()
plan = plan_pose_render(scene, Path(p["out"]), frames_dir=Path(p["frames_dir"]))
before = scene_state(scene)
results = {}
for when in ("reading", "encoding"):
    job = PoseRenderJob(plan)
    ticks = 0
    try:
        while job.tick(budget_s=0.0) is None:  # one frame per tick, as the modal operator does
            ticks += 1
            if when == "reading" and ticks == 3:
                job.cancel()
            if when == "encoding" and job.progress > 0.5:
                job.cancel()
        results[when] = "finished"
    except Cancelled:
        results[when] = "cancelled"
for when in ("reading", "encoding"):  # Blender closing the operator: abort() waits for the cleanup
    job = PoseRenderJob(plan)
    while job.tick(budget_s=0.0) is None and not (when == "reading" and job.progress > 0.2) \
            and not (when == "encoding" and job.progress > 0.5):
        pass
    job.abort()
    results["abort " + when] = "aborted"
results["same"] = scene_state(scene) == before
emit(results)
