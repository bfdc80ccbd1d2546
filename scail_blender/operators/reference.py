"""Render Reference, Render Extra Views, Mask from Image and Load Mask Previews: thin operators over
``blender/reference_render.py``, ``reference_views.py`` and ``reference_panel.py``."""

from __future__ import annotations

import bpy

from ..blender import reference_panel as panel
from ..blender.reference_render import render_reference
from ..blender.reference_views import render_views
from ..errors import ScailError
from ..pose.identity import PALETTE_NAMES


def _names(people: frozenset[int]) -> str:
    return ", ".join(PALETTE_NAMES[i] for i in sorted(people)) or "nobody"


class SCAIL_OT_render_reference(bpy.types.Operator):
    """Render the characters as the SCAIL-2 reference image and its identity mask (in the driving mask's colours) and set both on the panel"""

    bl_idname = "scail.render_reference"
    bl_label = "Render Reference"
    bl_options = {"REGISTER"}

    def execute(self, context):
        settings = context.scene.scail
        try:
            plan = render_reference(panel.plan_from_panel(context))
            settings.reference_image = panel.load_image(plan.image)
            settings.reference_mask = panel.load_image(plan.mask)
            panel.show_pixels(panel.REFERENCE_PREVIEW, panel.image_pixels(settings.reference_mask)[..., :3])
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for note in plan.notes:
            self.report({"INFO"}, note)
        return {"FINISHED"}


class SCAIL_OT_render_extra_views(bpy.types.Operator):
    """Make turntable cameras (front, side, back as ticked) around the characters and render each as a SCAIL-2 extra reference with its mask"""

    bl_idname = "scail.render_extra_views"
    bl_label = "Render Extra Views"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.scail
        views = panel.chosen_views(settings)
        if not views:
            self.report({"ERROR"}, "Tick at least one view (front, side, back)")
            return {"CANCELLED"}
        try:
            plan = panel.plan_from_panel(context)
            files = render_views(plan, views)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        settings.extra_references.clear()
        for view, (image, mask) in zip(views, files):
            item = settings.extra_references.add()
            item.view, item.image, item.mask = view, panel.load_image(image), panel.load_image(mask)
        for note in plan.notes:
            self.report({"INFO"}, note)
        return {"FINISHED"}


class SCAIL_OT_reference_mask_from_image(bpy.types.Operator):
    """Make the SCAIL-2 reference mask of the picked reference image from its alpha, a mask image or a background colour, in the chosen identity colour"""

    bl_idname = "scail.reference_mask_from_image"
    bl_label = "Mask from Image"
    bl_options = {"REGISTER"}

    def execute(self, context):
        settings = context.scene.scail
        try:
            path = panel.mask_for_picked_image(context)
            settings.reference_mask = panel.load_image(path)
            panel.show_pixels(panel.REFERENCE_PREVIEW, panel.image_pixels(settings.reference_mask)[..., :3])
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {path}")
        return {"FINISHED"}


class SCAIL_OT_load_mask_previews(bpy.types.Operator):
    """Show the first driving-mask frame and the reference mask in the panel, and check they show the same people"""

    bl_idname = "scail.load_mask_previews"
    bl_label = "Load Mask Previews"

    def execute(self, context):
        try:
            driving, reference = panel.load_previews(context)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Both masks show {len(driving)} people ({_names(driving)})")
        return {"FINISHED"}


CLASSES = (SCAIL_OT_render_reference, SCAIL_OT_render_extra_views, SCAIL_OT_reference_mask_from_image,
           SCAIL_OT_load_mask_previews)
