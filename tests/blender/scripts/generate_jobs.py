"""Generate from the panel against a live server and in Blender, driving the job timer by hand
(headless Blender fires no timers); report each job's end, its strip and the panel's messages.

Parameters: ``url``, ``token``, ``checkpoint``, ``ref``, ``pose`` (16 fps), ``folder`` (outputs),
``steps``. The scene runs at 24 fps; the pose strip sits at frame 10 on channel 2.
"""

import sys
import threading
from pathlib import Path

import bpy
import addon_utils  # importable only once bpy is

from scail_blender.jobs.client import ScailClient
from scail_blender.blender import backends, board, prefs
from scail_blender.blender.compat import strips
from scail_blender.blender.sequencer import place_movie

from tests.blender.scripts.common import emit, params

TIMEOUT = 120.0
p = params()
addon_utils.enable("scail_blender", default_set=True)
preferences = prefs.preferences()
preferences.output_policy, preferences.output_folder = "FOLDER", p["folder"]
preferences.backend, preferences.server_url, preferences.server_token = "SERVER", p["url"], p["token"]
preferences.checkpoint_dir = p["checkpoint"]

scene = bpy.context.scene
scene.render.fps, scene.frame_start, scene.frame_end = 24, 10, 16
pose_strip = place_movie(scene, Path(p["pose"]), 10, 7)
pose_strip.channel = 2
settings = scene.scail
settings.reference_image = bpy.data.images.load(p["ref"])
settings.pose_source, settings.pose_file = "FILE", p["pose"]
settings.prompt, settings.seed, settings.steps = "a person dances", 7, p["steps"]
bpy.ops.wm.save_as_mainfile(filepath=str(Path(p["folder"]) / "shot.blend"))
report = {"timer": bpy.app.timers.is_registered(board.drain), "torch_at_enable": "torch" in sys.modules}


def generate() -> board.JobRecord:
    before = set(board.records)
    assert bpy.ops.scail.generate() == {"FINISHED"}
    (job_id,) = set(board.records) - before
    return board.records[job_id]


def finish(record: board.JobRecord) -> dict:
    ended = board.drain_until(lambda: record.final and (record.strip or record.error or record.status.state != "succeeded"),
                             TIMEOUT)
    out = {"ended": ended, "state": record.status.state, "error": record.error, "line": record.line(),
           "progress": record.status.progress}
    strip = strips(bpy.context.scene.sequence_editor).get(record.strip) if record.strip else None
    if strip is not None:
        out["strip"] = {"start": strip.frame_final_start, "duration": strip.frame_final_duration,
                        "channel": strip.channel, "name": strip.name, "prompt": strip["scail_prompt"],
                        "seed": strip["scail_seed"], "file": bpy.path.abspath(strip.filepath)}
    if record.status.result is not None:
        out["result"] = record.status.result.output
        out["frames"] = record.status.result.frames
    return out


# 1. The server: the result lands above its pose strip, at the scene's rate.
report["server"] = finish(generate())

# 2. Cancel from the panel's operator while the job runs, once its ETA is known.
settings.steps = 200
record = generate()
board.drain_until(lambda: record.status.eta_seconds is not None or record.final, TIMEOUT)
report["running_line"], report["running_progress"] = record.line(), record.status.progress
bpy.ops.scail.job_cancel(key=record.key)
report["cancel"] = finish(record)
bpy.ops.scail.job_remove(key=record.key)
report["removed"] = record.key not in board.records
settings.steps = p["steps"]

# 3. The upload runs in a thread: the operator returns at once, the row says it is uploading, and
# a Cancel pressed before the server answered is sent once it accepts the job.
settings.steps = 200
record = generate()
report["uploading_line"] = record.line()
bpy.ops.scail.job_cancel(key=record.key)
report["cancel_while_uploading"] = finish(record)
report["cancelled_remote_id"] = record.job_id

# Removed while it uploads: deleted from the server once the server has accepted it.
client = ScailClient(p["url"], p["token"])
before = client.list()[1]
record = generate()
bpy.ops.scail.job_remove(key=record.key)
board.drain_until(lambda: not board.sending() and board._inbox.empty() and not any(
    t.name.startswith("scail-remove") for t in threading.enumerate()), TIMEOUT)
report["removed_while_uploading"] = {"listed": record.key in board.records, "left_on_server": client.list()[1] - before}
settings.steps = p["steps"]

# 4. The server's refusal shows in the job list.
preferences.server_token = "wrong-token-0000"
record = generate()
report["refused"] = finish(record)
preferences.server_token = p["token"]

# 5. A non-loopback server needs Blender's online access (off in the bpy module).
preferences.server_url = "http://192.0.2.1:8188"
try:
    bpy.ops.scail.generate()
    report["offline"] = None
except RuntimeError as exc:
    report["offline"] = str(exc)
preferences.server_url = p["url"]

# 6. Install Engine refuses without online access too.
try:
    bpy.ops.scail.install_engine()
    report["install"] = None
except RuntimeError as exc:
    report["install"] = str(exc)

# 7. In Blender, with the same seed; the file is opened again while the job runs.
preferences.backend = "IN_PROCESS"
record = generate()
bpy.ops.wm.open_mainfile(filepath=str(Path(p["folder"]) / "shot.blend"))
report["timer_after_load"] = bpy.app.timers.is_registered(board.drain)
report["in_process"] = finish(record)
report["strips"] = sorted((s.name, s.channel, s.frame_final_start) for s in strips(bpy.context.scene.sequence_editor))

runner = backends.in_process_backend().runner
report["loaded"] = [runner.loaded]
bpy.ops.scail.release_model()
report["loaded"].append(runner.loaded)

# 8. A job that fails while it runs shows its message in the job list: a checkpoint folder that
# exists (a missing one is refused at the button) but holds no model. Its reference is an image
# made in Blender (no file of its own), which goes to the job as a PNG saved beside its output.
empty = Path(p["folder"]) / "empty"
empty.mkdir()
preferences.checkpoint_dir = str(empty)
bpy.context.scene.scail.reference_image = bpy.data.images.new("painted", 64, 64)
record = generate()
report["failed"] = finish(record)
report["reference_copy"] = Path(record.job.inputs.reference_image).name
emit(report)
