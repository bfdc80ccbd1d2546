"""Extract Motion from Video: pick a video, queue its extraction, import the motion when it ends.

Thin on purpose: the job is a row of the job board (``blender.extraction``, ``blender.board``:
cancel and remove are the board's buttons); this file only turns the dialog's fields into an
``ExtractSettings`` and reports refusals.
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..jobs.contract import ExtractSettings
from ..blender import extraction, prefs
from ..errors import ScailError


class SCAIL_OT_extract_motion(bpy.types.Operator, ImportHelper):
    """Extract the motion of the people in a video (YOLOX + DWPose + NLF) in Blender or on the job server, then import it as SMPL armatures and its camera"""

    bl_idname = "scail.extract_motion"
    bl_label = "Extract Motion from Video"

    filter_glob: StringProperty(default="*.mp4;*.mov;*.mkv;*.webm;*.avi", options={"HIDDEN"})
    people: IntProperty(name="People", min=0, default=0, description="Keep the N people seen longest; 0 keeps everyone")
    smooth: BoolProperty(name="Smooth", default=False,
                         description="One-Euro smoothing of the joints (the official pipeline does not smooth)")
    align_ref: StringProperty(name="Align to Image", subtype="FILE_PATH",
                              description="Optional reference image: refit the camera so the first frame lands on its character")
    full_frame: BoolProperty(name="Whole Frame", default=False,
                             description="Extract from the whole frame at its own size; off: frames are cropped to "
                                         "512x896 (896x512 unless wider than tall) as SCAIL-Pose does")

    def execute(self, context: bpy.types.Context) -> set[str]:
        video = Path(bpy.path.abspath(self.filepath))
        try:
            output = prefs.output_folder(context) / f"{video.stem}_motion.npz"
            settings = ExtractSettings(people=self.people or None, smooth=self.smooth, full_frame=self.full_frame)
            align = bpy.path.abspath(self.align_ref) if self.align_ref else None
            extraction.start(context, str(video), align, settings, str(output))
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Extracting the motion of {video.name}: see the job list; it is imported when done")
        return {"FINISHED"}


CLASSES = [SCAIL_OT_extract_motion]
