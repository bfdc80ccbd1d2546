"""SCAIL-2 from a Blender scene, end to end through the panel: two dancers with bodies, for each
mode the pose video with its driving mask (Render Pose Video with Also SCAIL-2 Mask), the
reference with its mask and a side view as an extra reference (Render Reference, Render Extra
Views), a stack of two LoRAs, then Generate on a local server and in Blender's own process,
driving the job timer by hand (headless Blender fires no timers).

Parameters: ``folder`` (the .blend and every output), ``checkpoint`` (a tiny SCAIL-2 folder),
``url`` and ``token`` of the server, ``loras`` (two .safetensors paths), ``steps``, ``footage``
(5 frames at 16 fps of the pose size). Then the footage as a Sequencer strip is the plate of a
replacement job with the region mask rendered from the characters, as it is and blacked out
outside the people (in Blender's process).
"""

import shutil
from pathlib import Path

import bpy
import addon_utils  # importable only once bpy is

from scail_blender.blender import board, prefs
from scail_blender.blender.sequencer import place_movie

from tests.blender.scripts.common import bodies_scene, emit, params

TIMEOUT = 180.0
p = params()
folder = Path(p["folder"])
addon_utils.enable("scail_blender", default_set=True)
preferences = prefs.preferences()
preferences.output_policy, preferences.output_folder = "FOLDER", str(folder)
preferences.server_url, preferences.server_token = p["url"], p["token"]
preferences.checkpoint_dir = p["checkpoint"]

scene, rigs = bodies_scene()
bpy.ops.wm.save_as_mainfile(filepath=str(folder / "shot.blend"))
scene = bpy.context.scene
settings = scene.scail
for rig in rigs:
    settings.characters.add().armature = scene.objects[rig.name]
settings.size_preset, settings.height, settings.width = "CUSTOM", 64, 96
settings.use_scene_range, settings.frame_start, settings.frame_end = False, 1, 7  # 5 frames at 16 fps
settings.fps, settings.add_strip, settings.write_mask = 16, False, True
settings.reference_engine = "WORKBENCH"
settings.view_front, settings.view_side, settings.view_back = False, True, False
settings.pose_source = "RENDERED"
settings.prompt, settings.seed, settings.steps = "two people dance", 5, p["steps"]
for path, strength in zip(p["loras"], (0.75, -0.5)):
    item = settings.loras.add()
    item.name, item.strength = path, strength


def generate(backend: str) -> dict:
    """Press Generate with ``backend`` and follow the row to its end: the job as sent and its result."""
    preferences.backend = backend
    before = set(board.records)
    assert bpy.ops.scail.generate() == {"FINISHED"}
    (key,) = set(board.records) - before
    record = board.records[key]
    ended = board.drain_until(lambda: record.final and (record.strip or record.error
                                                         or record.status.state != "succeeded"), TIMEOUT)
    job = record.job
    return {"ended": ended, "state": record.status.state, "error": record.error,
            "output": record.status.result.output if record.status.result else None,
            "frames": record.status.result.frames if record.status.result else None,
            "mode": job.settings.mode, "loras": [[lora.name, lora.strength] for lora in job.settings.loras],
            "reference": job.inputs.reference_image, "reference_mask": job.inputs.reference_mask,
            "pose": job.inputs.pose_video, "pose_mask": job.inputs.pose_mask,
            "extra": job.inputs.extra_references, "extra_masks": job.inputs.extra_reference_masks}


INPUTS = ("reference", "reference_mask", "pose", "pose_mask")


def keep(row: dict, where: Path) -> dict:
    """Copy the job's input files to ``where`` (the next mode's renders reuse their names) and
    point the row at the copies."""
    where.mkdir(exist_ok=True)
    moved = {name: str(where / Path(row[name]).name) for name in INPUTS}
    moved.update({name: [str(where / Path(x).name) for x in row[name]] for name in ("extra", "extra_masks")})
    for name in INPUTS:
        shutil.copyfile(row[name], moved[name])
    for name in ("extra", "extra_masks"):
        for src, dst in zip(row[name], moved[name]):
            shutil.copyfile(src, dst)
    return {**row, **moved}


report = {}
for mode in ("animation", "replacement"):
    settings.mask_mode = settings.mode = mode
    steps = {"render_pose": sorted(bpy.ops.scail.render_pose()),
             "render_reference": sorted(bpy.ops.scail.render_reference()),
             "render_extra_views": sorted(bpy.ops.scail.render_extra_views())}
    server = generate("SERVER")
    in_process = generate("IN_PROCESS")
    report[mode] = {"operators": steps, "server": keep(server, folder / mode), "in_process": in_process}



def refusal() -> str:
    """What Generate refuses with (bpy.ops raises an operator's error report as RuntimeError)."""
    try:
        bpy.ops.scail.generate()
    except RuntimeError as exc:
        return str(exc)
    return ""


# Replacement with a plate: the footage strip drives, the region mask stays the rendered one.
settings.pose_source, settings.pose_strip = "STRIP", "Plate"
report["no_strip"] = refusal()
settings.pose_strip = place_movie(scene, Path(p["footage"]), 1, 5, name="Plate").name
report["plate"] = generate("IN_PROCESS")
settings.black_out = True
report["plate_black_out"] = generate("IN_PROCESS")
settings.pose_mask, settings.reference_mask = "", None
report["black_out_without_mask"] = refusal()
emit(report)
