"""The panel's side of SCAIL-2 references: plans from its settings, images in and out of
``bpy.data``, masks for a picked image, and the mask previews with their people check.

Files go to the output folder beside the pose video (``STEM_reference.png``,
``STEM_reference_mask.png``, ``STEM_reference_side.png``...), are loaded as images and set on the
panel, so Generate sends them like any chosen image.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ..errors import InputError
from ..media.png import write_png
from ..media.video import read_video
from ..pose.reference_mask import check_people_match, mask_from_image, people_in_frames, people_in_mask
from . import prefs
from .reference_render import ReferenceRender, plan_reference
from .scene_render import default_video_path

DRIVING_PREVIEW = "SCAIL Driving Mask Preview"
REFERENCE_PREVIEW = "SCAIL Reference Mask Preview"


def output_stem(context: bpy.types.Context) -> Path:
    """The output folder's path for this scene's files without suffix: FOLDER/BLEND_SCENE."""
    video = default_video_path(context.scene, prefs.output_folder(context))
    return video.with_name(video.stem.removesuffix("_pose"))


def plan_from_panel(context: bpy.types.Context) -> ReferenceRender:
    """A reference render of the panel's characters with its settings (see ``plan_reference``)."""
    scene = context.scene
    settings = scene.scail
    stem = output_stem(context)
    start, _ = settings.frame_range(scene)
    frame = {"POSE_START": None, "CURRENT": scene.frame_current,
             "CUSTOM": settings.reference_frame}[settings.reference_frame_source]
    camera = settings.reference_camera.name if settings.reference_camera is not None else None
    return plan_reference(scene, stem.with_name(f"{stem.name}_reference.png"),
                          stem.with_name(f"{stem.name}_reference_mask.png"), camera=camera, frame=frame,
                          size=settings.size(), framing=settings.framing, engine=settings.reference_engine,
                          mode=settings.mode, pose_start=start)


def chosen_views(settings) -> list[str]:
    return [view for view in ("front", "side", "back") if getattr(settings, f"view_{view}")]


def load_image(path: Path) -> bpy.types.Image:
    """The image datablock of the file ``path``, read again from disk if it was loaded before."""
    image = bpy.data.images.load(str(path), check_existing=True)
    image.reload()
    return image


def image_pixels(image: bpy.types.Image) -> np.ndarray:
    """RGBA uint8 ``[H, W, 4]``, top row first, of a Blender image (values as stored, not linearised)."""
    width, height = image.size
    if not width or not height:
        raise InputError(f"The image '{image.name}' has no pixels (its file is missing?): open it again")
    flat = np.empty(width * height * 4, np.float32)
    image.pixels.foreach_get(flat)
    return np.round(np.clip(flat.reshape(height, width, 4)[::-1], 0, 1) * 255).astype(np.uint8)


def show_pixels(name: str, rgb: np.ndarray) -> bpy.types.Image:
    """A generated image ``name`` holding ``rgb`` (uint8 ``[H, W, 3]``), with its preview icon made."""
    height, width = rgb.shape[:2]
    image = bpy.data.images.get(name)
    if image is None or tuple(image.size) != (width, height):
        if image is not None:
            bpy.data.images.remove(image)
        image = bpy.data.images.new(name, width, height, alpha=True)
    rgba = np.concatenate([rgb, np.full((height, width, 1), 255, np.uint8)], axis=-1)[::-1]
    image.pixels.foreach_set((rgba.astype(np.float32) / 255).ravel())
    image.update()
    image.preview_ensure()
    return image


def mask_for_picked_image(context: bpy.types.Context) -> Path:
    """The reference mask of the panel's reference image, by the panel's Mask From choice,
    written beside the outputs; returns its path."""
    settings = context.scene.scail
    if settings.reference_image is None:
        raise InputError("No reference image: open or pick one under Reference and Prompt first")
    image = image_pixels(settings.reference_image)
    rgba = image if settings.reference_image.alpha_mode != "NONE" else image[..., :3]
    mask_image = image_pixels(settings.mask_image)[..., :3] if settings.mask_image is not None else None
    key = tuple(int(round(c * 255)) for c in settings.key_colour)
    mask = mask_from_image(rgba, settings.mask_source, settings.mode, identity=int(settings.identity),
                           mask_image=mask_image, key_colour=key, tolerance=settings.key_tolerance)
    stem = output_stem(context)
    path = stem.with_name(f"{stem.name}_reference_mask.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, mask)
    return path


def load_previews(context: bpy.types.Context) -> tuple[frozenset[int], frozenset[int]]:
    """Show the first driving-mask frame and the reference mask as preview images; returns the
    people each shows (driving: over all of its frames). Raises when they differ."""
    settings = context.scene.scail
    if not settings.pose_mask or settings.reference_mask is None:
        raise InputError("Set both SCAIL-2 masks first: the reference mask (Render Reference or Mask from Image) "
                         "and the pose mask video")
    path = Path(bpy.path.abspath(settings.pose_mask))
    if not path.is_file():
        raise InputError(f"The pose mask {path} does not exist: render it or choose the file again")
    frames = iter(read_video(path))
    first = next(frames, None)
    if first is None:
        raise InputError(f"The pose mask {path} has no frames: render it again")
    show_pixels(DRIVING_PREVIEW, first)
    reference = image_pixels(settings.reference_mask)[..., :3]
    show_pixels(REFERENCE_PREVIEW, reference)
    driving = people_in_frames([first, *frames])
    referenced = people_in_mask(reference)
    check_people_match(referenced, driving)
    return driving, referenced
