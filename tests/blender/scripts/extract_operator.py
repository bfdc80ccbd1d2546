"""Extract Motion from Video against the in-process runner with the tiny stand-in networks:
run the operator, drive the drain in a bounded loop (timers do not fire headless) until the
armatures appear (a row of the job board); then start one more and cancel it. Prints one JSON line.

Parameters: ``folder`` for the .blend, the weights and the video; optional ``server`` and
``token``: use a job server instead (preferences' backend Server; no cancel round).
"""

import os
import time
from pathlib import Path
from types import SimpleNamespace

import bpy

from scail_blender.blender import board, extraction, prefs, ui_motion
from scail_blender.motion import read_motion
from scail_blender.extract.testing import crossing_scene, write_scene, write_tiny_weights

from tests.blender.scripts.common import emit, params

DEADLINE_S = 120.0

args = params()
folder = Path(args["folder"])
if "server" not in args:  # the server has its own weights; writing them needs onnx, which a bpy venv may lack
    os.environ["SCAIL_POSE_WEIGHTS"] = str(write_tiny_weights(folder / "weights"))
video = write_scene(crossing_scene(frames=12), folder / "driving.mp4")

import scail_blender  # noqa: E402 - registered after the factory reset below

bpy.ops.wm.read_factory_settings(use_empty=True)
scail_blender.register()
bpy.ops.wm.save_as_mainfile(filepath=str(folder / "scene.blend"))  # outputs go next to the .blend
scene = bpy.context.scene
# the preferences as a user who chose the backend has them: a job server, or In Blender
chosen = SimpleNamespace(backend="SERVER" if "server" in args else "IN_PROCESS", server_url=args.get("server", ""),
                         server_token=args.get("token", ""), pose_weights_dir="", output_policy="BLEND_DIR",
                         output_folder="", checkpoint_dir="")
prefs.preferences = lambda context=None: chosen


class Layout:
    """Records what a panel draws and checks each operator exists (panels never draw headless)."""

    def __init__(self, drawn: list[str]) -> None:
        self.drawn = drawn

    def _child(self, *args, **kwargs) -> "Layout":
        return Layout(self.drawn)

    row = column = _child

    def operator(self, idname: str, **kwargs) -> SimpleNamespace:
        group, name = idname.split(".")
        assert getattr(getattr(bpy.ops, group), name).get_rna_type()
        self.drawn.append("op " + idname)
        return SimpleNamespace()  # the operator's properties, as Blender returns them

    def label(self, text: str = "", **kwargs) -> None:
        self.drawn.append("label " + text)

    def progress(self, text: str = "", **kwargs) -> None:
        self.drawn.append("progress")


def draw_panel() -> list[str]:
    host = type("Host", (), {})()
    host.layout = Layout([])
    ui_motion.SCAIL_PT_motion.draw(host, bpy.context)
    return host.layout.drawn


def drain_until_done(record: board.JobRecord) -> int:
    calls = 0
    deadline = time.monotonic() + DEADLINE_S
    while not (record.final and (record.outcome or record.error or record.status.state != "succeeded")):
        board.drain()
        calls += 1
        if time.monotonic() > deadline:
            raise TimeoutError(f"extraction still running after {DEADLINE_S} s: {record.line()}")
        time.sleep(0.05)
    return calls


result = bpy.ops.scail.extract_motion(filepath=str(video), people=2)
record = extraction.latest()
running_panel = draw_panel()
calls = drain_until_done(record)
done_panel = draw_panel()
armatures = sorted(o.name for o in scene.objects if o.type == "ARMATURE")
motion_file = folder / "driving_motion.npz"

if "server" not in args:
    bpy.ops.scail.extract_motion(filepath=str(video))
    cancelled = extraction.latest()
    bpy.ops.scail.job_cancel(key=cancelled.key)
    drain_until_done(cancelled)
else:
    cancelled = record
emit({"result": sorted(result), "armatures": armatures, "calls": calls, "message": record.line(),
      "motion_file": motion_file.is_file(), "state": record.status.state,
      "progress": record.status.progress, "cancelled_state": cancelled.status.state,
      "cancelled_message": cancelled.line(), "running_panel": running_panel, "done_panel": done_panel,
      "after_cancel": sorted(o.name for o in scene.objects if o.type == "ARMATURE"),
      "image_size": list(read_motion(motion_file).motion.image_size) if motion_file.is_file() else None})
