"""Render two dancers in one pass without a strip; report who was rendered.

Parameters: ``out``, ``joints_out``.
"""

from pathlib import Path

from scail_blender.blender import compat
from scail_blender.blender.scene_render import plan_pose_render, render_pose_video

from tests.blender.scripts.common import add_rigify_dancer, dancer_scene, emit, params

p = params()
scene, rigs, _ = dancer_scene()
rigs.append(add_rigify_dancer(scene, "Partner", (1.2, 0.5, 0.0), phase=1.0))
rigs[0].location.x = -0.9
plan = plan_pose_render(scene, Path(p["out"]), frame_range=(10, 12), fps=24, joints_out=Path(p["joints_out"]),
                        add_strip=False)
files = render_pose_video(plan)
emit({"people": [c.obj.name for c in plan.characters], "frames": files.frames,
      "strips": len(compat.strips(scene.sequence_editor)) if scene.sequence_editor else 0})
