"""The "SCAIL-2 Reference" panel of the Animate Character sidebar: the mode, Render Reference,
extra views, a mask for a picked image, and the two mask previews side by side.

A panel of its own under the main one, so the SCAIL-2 inputs can change without touching
``ui.py``'s panels.
"""

from __future__ import annotations

import bpy

from .reference_panel import DRIVING_PREVIEW, REFERENCE_PREVIEW
from .ui import CATEGORY


class SCAIL_PT_scail2(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY
    bl_label = "SCAIL-2 Reference"
    bl_parent_id = "SCAIL_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        settings = context.scene.scail
        layout.prop(settings, "mode")

        box = layout.box()
        box.label(text="From the scene", icon="RENDER_STILL")
        box.prop(settings, "reference_engine")
        box.prop(settings, "reference_frame_source")
        if settings.reference_frame_source == "CUSTOM":
            box.prop(settings, "reference_frame")
        box.prop(settings, "reference_camera")
        box.operator("scail.render_reference", icon="RENDER_STILL")
        row = box.row(align=True)
        for view in ("front", "side", "back"):
            row.prop(settings, f"view_{view}", toggle=True)
        box.operator("scail.render_extra_views", icon="CAMERA_DATA")
        for item in settings.extra_references:
            row = box.row(align=True)
            row.prop(item, "use", text=f"{item.view.title()} view")
            row.label(text=item.image.name if item.image else "(image deleted)")

        box = layout.box()
        box.label(text="For a picked reference image", icon="IMAGE_DATA")
        box.prop(settings, "mask_source")
        if settings.mask_source == "mask_image":
            box.template_ID(settings, "mask_image", open="image.open")
        elif settings.mask_source == "colour":
            box.prop(settings, "key_colour")
            box.prop(settings, "key_tolerance")
        box.prop(settings, "identity")
        box.operator("scail.reference_mask_from_image", icon="MOD_MASK")

        box = layout.box()
        box.operator("scail.load_mask_previews", icon="HIDE_OFF")
        row = box.row()
        for name, label in ((DRIVING_PREVIEW, "Driving, frame 1"), (REFERENCE_PREVIEW, "Reference")):
            image = bpy.data.images.get(name)
            col = row.column()
            col.label(text=label)
            if image is not None and image.preview is not None:
                col.template_icon(icon_value=image.preview.icon_id, scale=6.0)


CLASSES = (SCAIL_PT_scail2,)
