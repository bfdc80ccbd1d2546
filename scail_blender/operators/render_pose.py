"""Render Pose Video and Preview Frame: thin operators over ``scene_render``; a render started
from the panel is a row of the job board (cancelled there like any job). With Also SCAIL-2 Mask
the same render writes the driving mask beside the pose video and puts it in Pose Mask; Driving
Mesh draws the characters' meshes instead of their skeletons; with a MultiAnimate checkpoint in the
preferences it also writes that model's skeletons and character masks (refusing more characters
than that checkpoint animates before rendering)."""

from __future__ import annotations


import bpy
import numpy as np

from ..blender import board, prefs
from ..errors import ScailError
from ..blender.camera import camera_params
from ..blender.scene_render import (PoseRenderJob, default_mask_path, default_video_path, multianimate_paths,
                                    plan_pose_render, preview_frame)

PREVIEW_IMAGE = "SCAIL Pose Preview"


def plan_from_panel(context: bpy.types.Context):
    """A render plan from the panel's settings and the add-on preferences."""
    scene = context.scene
    settings = scene.scail
    camera_params(scene)  # a missing camera is the first thing to fix, before where files go
    folder = prefs.output_folder(context)
    video = default_video_path(scene, folder)
    # The frames folder is named by the add-on after the video, so a new render replaces the
    # frames of the last one (and only those: nothing else in it is touched).
    # A MultiAnimate checkpoint takes skeletons and one mask per character: the render cuts the
    # masks from its per-pixel labels and draws the skeletons from its joints file
    # (scene_render.multianimate_paths); more characters than the checkpoint takes are refused first.
    multianimate = prefs.multianimate_checkpoint(context)
    _, characters, joints = multianimate_paths(video)
    plan = plan_pose_render(scene, video, frame_range=settings.frame_range(scene), size=settings.size(),
                            framing=settings.framing, fps=settings.fps, add_strip=settings.add_strip, overwrite=True,
                            frames_dir=video.with_suffix("") if settings.write_frames else None,
                            mask_out=default_mask_path(video) if settings.write_mask else None,
                            mask_mode=settings.mask_mode, driving=settings.driving,
                            joints_out=joints if multianimate else None,
                            character_masks=characters if multianimate else None,
                            checkpoint=prefs.checkpoint_folder(context) if multianimate else None)
    plan.set_panel_mask = settings.write_mask
    plan.multianimate = multianimate
    return plan


class SCAIL_OT_render_pose(bpy.types.Operator):
    """Render the characters through the scene camera into a SCAIL pose video and add it to the Sequencer"""

    bl_idname = "scail.render_pose"
    bl_label = "Render Pose Video"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if board.rendering():
            cls.poll_message_set("A pose render is already running (see the job list)")
            return False
        return True

    def execute(self, context):
        """Synchronous: used by scripts and when there is no window to keep alive."""
        try:
            plan = plan_from_panel(context)
            self._report_plan(plan)
            files = PoseRenderJob(plan).run()
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for line in files.warnings:
            self.report({"WARNING"}, line)
        mask = f" and its {plan.mask_mode} mask {files.mask.name}" if files.mask is not None else ""
        self.report({"INFO"}, f"Wrote {files.video} ({files.frames} frames){mask}")
        return {"FINISHED"}

    def invoke(self, context, event):
        """With a window: a row of the job board, advanced by its timer while Blender stays usable."""
        if context.window is None or bpy.app.background:
            return self.execute(context)  # no event loop to fire the board's timer
        try:
            plan = plan_from_panel(context)
            self._report_plan(plan)
            mask = " and mask" if plan.mask_out is not None else ""
            board.add_render(f"pose video{mask} {plan.video.name}", PoseRenderJob(plan))
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}

    def _report_plan(self, plan) -> None:
        """Which camera framing and characters the render uses and skips, in the Info log."""
        for line in plan.report_lines():
            self.report({"WARNING"} if "skipped" in line or "Check" in line else {"INFO"}, line)


def show_preview(context: bpy.types.Context, pixels: np.ndarray) -> bpy.types.Image:
    """Put an RGB uint8 frame into the preview image and show it in an Image Editor if one is open."""
    height, width = pixels.shape[:2]
    image = bpy.data.images.get(PREVIEW_IMAGE)
    if image is None or tuple(image.size) != (width, height):
        if image is not None:
            bpy.data.images.remove(image)
        image = bpy.data.images.new(PREVIEW_IMAGE, width, height, alpha=False)
    rgba = np.ones((height, width, 4), np.float32)
    rgba[..., :3] = pixels[::-1] / 255.0  # Blender images start at the bottom row
    image.pixels.foreach_set(rgba.ravel())
    image.update()
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                area.tag_redraw()
    return image


class SCAIL_OT_preview_frame(bpy.types.Operator):
    """Render the current frame's SCAIL pose into the image "SCAIL Pose Preview" (see the Image Editor)"""

    bl_idname = "scail.preview_frame"
    bl_label = "Preview Frame"

    def execute(self, context):
        settings = context.scene.scail
        try:
            pixels = preview_frame(context.scene, size=settings.size(), framing=settings.framing)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        show_preview(context, pixels)
        self.report({"INFO"}, f"Preview in the image '{PREVIEW_IMAGE}'")
        return {"FINISHED"}


CLASSES = (SCAIL_OT_render_pose, SCAIL_OT_preview_frame)
