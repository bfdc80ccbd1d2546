"""Generate and Extract Motion pressed one after the other with the in-process backend: both
rows on the one job board, run by the one runner one after the other (never at the same time on
the device), each with its progress; a third job cancelled while it waits. The board's timer is
driven by hand (headless Blender fires no timers). Prints one JSON line.

Parameters: ``checkpoint``, ``ref``, ``pose`` (16 fps), ``folder``.
"""

import os
import time
from pathlib import Path

import bpy
import addon_utils  # importable only once bpy is

from scail_blender.blender import board, prefs
from scail_blender.blender.compat import strips
from scail_blender.extract.testing import crossing_scene, write_scene, write_tiny_weights

from tests.blender.scripts.common import emit, params

DEADLINE_S = 180.0
p = params()
folder = Path(p["folder"])
os.environ["SCAIL_POSE_WEIGHTS"] = str(write_tiny_weights(folder / "weights"))
video = write_scene(crossing_scene(frames=8), folder / "driving.mp4")

addon_utils.enable("scail_blender", default_set=True)
preferences = prefs.preferences()
preferences.output_policy, preferences.output_folder = "FOLDER", str(folder)
preferences.backend, preferences.checkpoint_dir = "IN_PROCESS", p["checkpoint"]
scene = bpy.context.scene
settings = scene.scail
settings.reference_image = bpy.data.images.load(p["ref"])
settings.pose_source, settings.pose_file = "FILE", p["pose"]
settings.steps = 2

assert bpy.ops.scail.generate() == {"FINISHED"}
assert bpy.ops.scail.extract_motion(filepath=str(video), people=2) == {"FINISHED"}
assert bpy.ops.scail.extract_motion(filepath=str(video), people=1) == {"FINISHED"}
generation, extraction, waiting = board.records.values()
bpy.ops.scail.job_cancel(key=waiting.key)

running_together, seen = 0, {r.key: set() for r in board.records.values()}
deadline = time.monotonic() + DEADLINE_S
while not all(r.final and (r.outcome or r.error or r.status.state != "succeeded") for r in board.records.values()):
    board.drain()
    states = [r.status.state for r in board.records.values()]
    running_together = max(running_together, states.count("running"))
    for r in board.records.values():
        seen[r.key].add(r.status.state)
    if time.monotonic() > deadline:
        raise TimeoutError([r.line() for r in board.records.values()])
    time.sleep(0.02)

rows = {name: {"kind": r.kind, "state": r.status.state, "line": r.line(), "progress": r.status.progress,
               "started": r.status.started, "finished": r.status.finished, "seen": sorted(seen[r.key])}
        for name, r in (("generation", generation), ("extraction", extraction), ("waiting", waiting))}
emit({"rows": rows, "running_together": running_together,
      "one_backend": generation.backend is extraction.backend is waiting.backend,
      "armatures": sorted(o.name for o in scene.objects if o.type == "ARMATURE"),
      "strips": len(strips(scene.sequence_editor)) if scene.sequence_editor else 0})
