"""Render Pose Video, Cancel and Preview Frame: thin operators over ``scene_render``."""

from __future__ import annotations

import traceback

import bpy
import numpy as np

from ..blender import prefs
from ..errors import Cancelled, ScailError
from ..blender.camera import camera_params
from ..blender.scene_render import PoseRenderJob, default_video_path, plan_pose_render, preview_frame

PREVIEW_IMAGE = "SCAIL Pose Preview"
TICK_S = 0.05


def plan_from_panel(context: bpy.types.Context):
    """A render plan from the panel's settings and the add-on preferences."""
    scene = context.scene
    settings = scene.scail
    camera_params(scene)  # a missing camera is the first thing to fix, before where files go
    folder = prefs.output_folder(context)
    video = default_video_path(scene, folder)
    # The frames folder is named by the add-on after the video, so a new render replaces the
    # frames of the last one (and only those: nothing else in it is touched).
    return plan_pose_render(scene, video, frame_range=settings.frame_range(scene), size=settings.size(),
                            framing=settings.framing, fps=settings.fps, add_strip=settings.add_strip, overwrite=True,
                            frames_dir=video.with_suffix("") if settings.write_frames else None)


def _redraw(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "SEQUENCE_EDITOR"}:
                area.tag_redraw()


class SCAIL_OT_render_pose(bpy.types.Operator):
    """Render the characters through the scene camera into a SCAIL pose video and add it to the Sequencer"""

    bl_idname = "scail.render_pose"
    bl_label = "Render Pose Video"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if context.window_manager.scail_job.running:
            cls.poll_message_set("A pose render is already running")
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
        self.report({"INFO"}, f"Wrote {files.video} ({files.frames} frames)")
        return {"FINISHED"}

    def invoke(self, context, event):
        if context.window is None or bpy.app.background:
            return self.execute(context)  # no event loop to drive a modal operator
        try:
            plan = plan_from_panel(context)
            self._report_plan(plan)
            self._job = PoseRenderJob(plan)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        state = context.window_manager.scail_job
        state.running, state.cancel_requested, state.progress, state.message = True, False, 0.0, self._job.message
        self._timer = context.window_manager.event_timer_add(TICK_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _report_plan(self, plan) -> None:
        """Which camera framing and characters the render uses and skips, in the Info log."""
        for line in plan.report_lines():
            self.report({"WARNING"} if "skipped" in line or "Check" in line else {"INFO"}, line)

    def modal(self, context, event):
        state = context.window_manager.scail_job
        if event.type == "ESC" or state.cancel_requested:
            self._job.cancel()
            state.message = "Cancelling..."
        if event.type != "TIMER":
            return {"RUNNING_MODAL"} if event.type == "ESC" else {"PASS_THROUGH"}
        try:
            files = self._job.tick(TICK_S)
        except Cancelled as exc:
            return self._end(context, {"WARNING"}, str(exc), {"CANCELLED"})
        except ScailError as exc:
            return self._end(context, {"ERROR"}, str(exc), {"CANCELLED"})
        except Exception as exc:  # a bug: still stop cleanly, and leave the traceback in the console
            traceback.print_exc()
            return self._end(context, {"ERROR"}, f"Pose render failed ({type(exc).__name__}: {exc})", {"CANCELLED"})
        state.progress, state.message = self._job.progress, self._job.message
        _redraw(context)
        if files is None:
            return {"PASS_THROUGH"}
        for line in files.warnings:
            self.report({"WARNING"}, line)
        return self._end(context, {"INFO"}, f"Wrote {files.video} ({files.frames} frames)", {"FINISHED"})

    def cancel(self, context):
        """Blender ends the modal operator itself (file load, window closed)."""
        self._job.abort()
        context.window_manager.event_timer_remove(self._timer)
        state = context.window_manager.scail_job
        state.running, state.cancel_requested = False, False

    def _end(self, context, level: set[str], message: str, result: set[str]) -> set[str]:
        context.window_manager.event_timer_remove(self._timer)
        state = context.window_manager.scail_job
        state.running, state.cancel_requested = False, False
        self.report(level, message)
        _redraw(context)
        return result


class SCAIL_OT_cancel(bpy.types.Operator):
    """Stop the running pose render; its partial files are removed"""

    bl_idname = "scail.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.window_manager.scail_job.running

    def execute(self, context):
        context.window_manager.scail_job.cancel_requested = True
        return {"FINISHED"}


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


CLASSES = (SCAIL_OT_render_pose, SCAIL_OT_cancel, SCAIL_OT_preview_frame)
