"""The panel's SCAIL-2 reference operators on two dancers with bodies: Render Reference, Render
Extra Views, Load Mask Previews (with a matching and a mismatching reference mask), Mask from
Image, and the job Generate would send.

Parameters: ``folder`` (outputs; the .blend is saved there, so outputs go beside it).
"""

from pathlib import Path

import bpy
import numpy as np

import scail_blender
from scail_blender.blender import generate
from scail_blender.blender.compat import strips
from scail_blender.blender import reference_panel as panel
from scail_blender.blender.scene_render import plan_pose_render, render_pose_video
from scail_blender.errors import ScailError

from tests.blender.scripts.common import bodies_scene, emit, params


def colours(image: bpy.types.Image) -> list[list[int]]:
    return np.unique(panel.image_pixels(image)[..., :3].reshape(-1, 3), axis=0).tolist()


def refusal(call) -> str:
    """The message ``call`` refuses with: a typed error, or an operator's error report (which
    bpy.ops raises as RuntimeError when called from a script)."""
    try:
        call()
    except (ScailError, RuntimeError) as exc:
        return str(exc)
    return ""


p = params()
folder = Path(p["folder"])
scail_blender.register()
scene, rigs = bodies_scene()
bpy.ops.wm.save_as_mainfile(filepath=str(folder / "shot.blend"))
settings = scene.scail
settings.reference_engine = "WORKBENCH"
settings.size_preset, settings.height, settings.width = "CUSTOM", 64, 96
settings.use_scene_range, settings.frame_start, settings.frame_end = False, 1, 5
# The pose video (its strip in the Sequencer, as the panel puts it) and its driving mask.
plan = plan_pose_render(scene, folder / "pose.mp4", frame_range=(1, 5), size=(64, 96), add_strip=True,
                        joints_out=folder / "joints.npz", mask_out=folder / "mask.mp4")
files = render_pose_video(plan)
out = {"render_reference": list(bpy.ops.scail.render_reference())}
out["reference_image"] = bpy.path.abspath(settings.reference_image.filepath)
out["reference_mask"] = bpy.path.abspath(settings.reference_mask.filepath)
out["reference_colours"] = colours(settings.reference_mask)
out["strips"] = len(strips(scene.sequence_editor))

settings.view_front, settings.view_side, settings.view_back = False, True, True
out["render_extra_views"] = list(bpy.ops.scail.render_extra_views())
out["extra"] = [[item.view, bpy.path.abspath(item.image.filepath), bpy.path.abspath(item.mask.filepath)]
                for item in settings.extra_references]

settings.pose_source, settings.pose_file, settings.pose_mask = "FILE", str(folder / "pose.mp4"), str(folder / "mask.mp4")

out["previews"] = list(bpy.ops.scail.load_mask_previews())
images = {name: bpy.data.images.get(name) for name in (panel.DRIVING_PREVIEW, panel.REFERENCE_PREVIEW)}
out["preview_sizes"] = {name: list(image.size) if image else None for name, image in images.items()}
out["preview_colours"] = {name: colours(image) for name, image in images.items() if image}
job, _ = generate.job_from_panel(bpy.context)
out["job"] = {"mode": job.settings.mode, "extra": job.inputs.extra_references,
              "extra_masks": job.inputs.extra_reference_masks, "reference_mask": job.inputs.reference_mask}

# A picked image with a transparent background: its mask from the alpha, in green (identity 2).
picked = bpy.data.images.new("Picked", 96, 64, alpha=True)
pixels = np.zeros((64, 96, 4), np.float32)
pixels[16:48, 40:56] = (0.8, 0.5, 0.3, 1.0)
picked.pixels.foreach_set(pixels.ravel())
picked.filepath_raw, picked.file_format = str(folder / "picked.png"), "PNG"
picked.save()
settings.reference_image = bpy.data.images.load(str(folder / "picked.png"))
settings.mask_source, settings.identity, settings.mode = "alpha", "2", "animation"
out["mask_from_image"] = list(bpy.ops.scail.reference_mask_from_image())
mask = panel.image_pixels(settings.reference_mask)[..., :3]
out["picked_mask"] = {"colours": np.unique(mask.reshape(-1, 3), axis=0).tolist(),
                      "green": int((mask == (0, 255, 0)).all(-1).sum())}
# One green person against a driving mask of two: the previews and Generate both refuse it.
out["mismatch_operator"] = refusal(bpy.ops.scail.load_mask_previews)
out["mismatch_previews"] = refusal(lambda: panel.load_previews(bpy.context))
out["mismatch_generate"] = refusal(lambda: generate.job_from_panel(bpy.context))
emit(out)
