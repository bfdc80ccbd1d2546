"""File > Import / Export "SCAIL Motion": captured motion in as rigs and a camera, rigs out as files.

The operators only translate: reading and writing formats is scail_blender.motion, building
armatures is rig.build, reading rigs through the camera is rig.extract.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..blender import prefs
from ..errors import ScailError
from ..motion import save_motion
from ..motion.smpl import load_body_model
from ..outputs import check_outputs


class SCAIL_OT_import_motion(bpy.types.Operator, ImportHelper):
    """Import captured motion (NLF results, ComfyUI-SCAIL-Pose GLB, scail npz/GLB, SMPL parameters) as SMPL armatures and the camera they were seen from"""

    bl_idname = "scail.import_motion"
    bl_label = "Import SCAIL Motion"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.npz;*.pt;*.pth;*.pkl;*.pickle;*.glb", options={"HIDDEN"})
    timing: EnumProperty(
        name="Timing",
        items=(
            ("SCENE", "Scene Frame Rate", "Resample the motion to the scene's frame rate (interpolated), keeping its real speed"),
            ("ONE_TO_ONE", "One Frame per Frame", "One motion frame per scene frame; plays faster or slower when the rates differ"),
        ),
        default="SCENE",
    )
    set_scene_camera: BoolProperty(
        name="Use Its Camera",
        description="Make the imported camera the scene camera and set the render resolution to the motion's image size",
        default=True,
    )

    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..blender.build_rig import import_motion_file

        try:
            loaded, prepared, armatures = import_motion_file(self.filepath, context, self.timing == "SCENE",
                                                             self.set_scene_camera)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for note in [*loaded.notes, *prepared.notes]:
            self.report({"WARNING"}, note)
        rig = "SMPL rotations" if any(p.smpl for p in prepared.people) else "joint positions"
        self.report({"INFO"}, f"Imported {len(armatures)} armature(s), {prepared.motion.frames} frames ({loaded.kind}; "
                    f"rig from {rig})")
        return {"FINISHED"}


class SCAIL_OT_export_motion(bpy.types.Operator, ExportHelper):
    """Export the selected armatures, seen through the scene camera, as SCAIL motion (.npz keeps everything, .glb is a skinned SMPL rig for other 3D tools)"""

    bl_idname = "scail.export_motion"
    bl_label = "Export SCAIL Motion"

    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb;*.npz", options={"HIDDEN"})
    file_format: EnumProperty(
        name="Format",
        items=(("GLB", "GLB (skinned rig)", "Animated SMPL armature per person with a body mesh and the camera"),
               ("NPZ", "NPZ (motion arrays)", "Joints, hands, head marks, camera and fps as arrays")),
        default="GLB",
    )
    smpl_model: StringProperty(
        name="SMPL Model",
        description="Optional: your SMPL model file (.pkl or .npz) to give the GLB the SMPL body mesh instead "
                    "of capsules; empty uses the neutral model of the SMPL folder set in the add-on preferences",
        subtype="FILE_PATH",
    )

    def check(self, context: bpy.types.Context) -> bool:
        self.filename_ext = ".npz" if self.file_format == "NPZ" else ".glb"
        return super().check(context)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return any(obj.type == "ARMATURE" for obj in context.selected_objects)

    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..blender.scene_motion import ClipExtractor

        armatures = [obj for obj in context.selected_objects if obj.type == "ARMATURE"]
        try:
            model = bpy.path.abspath(self.smpl_model) if self.smpl_model else prefs.smpl_model_file(context)
            check_outputs({"The export file": self.filepath},
                          inputs={"the SMPL model": model, "the open .blend file": bpy.data.filepath})
            body = load_body_model(model) if model else None
            motion = ClipExtractor(context.scene, armatures).run()
            save_motion(motion, self.filepath, body=body)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {self.filepath}: {motion.frames} frames, {motion.people} people")
        return {"FINISHED"}


def menu_import(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(SCAIL_OT_import_motion.bl_idname, text="SCAIL Motion (.npz, .pt, .pkl, .glb)")


def menu_export(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(SCAIL_OT_export_motion.bl_idname, text="SCAIL Motion (.glb, .npz)")


def register_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.append(menu_import)
    bpy.types.TOPBAR_MT_file_export.append(menu_export)


def unregister_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)


CLASSES = [SCAIL_OT_import_motion, SCAIL_OT_export_motion]
