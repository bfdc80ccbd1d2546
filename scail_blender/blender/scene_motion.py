"""Scene -> Motion: evaluated rigs seen through the scene camera, one frame per step.

One frame per ``step()`` lets a modal operator keep Blender responsive and cancellable while
a long clip is read; ``close()`` (also run when the last frame is done) puts the scene back on
the frame the user was looking at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bpy
import numpy as np

from ..errors import RigMappingError
from ..motion.model import Motion
from ..pose.camera import Intrinsics
from .armature import check_armature, check_bonemap, map_armature, rest_points_world, sample_pose
from .camera import camera_params
from .mesh_mask import MaskCollector
from ..rig.bonemap import BoneMap, MappingReport
from ..rig.camera import Framing, framing_note, intrinsics_from_camera, world_to_opencv
from ..rig.scale import auto_scale, skeleton_height
from ..timing import split_time


@dataclass
class Character:
    """An armature to extract; bonemap None maps it automatically, scale None sizes it to a human."""

    obj: bpy.types.Object
    bonemap: BoneMap | None = None
    scale: float | None = None
    report: MappingReport | None = None  # the mapping's notes, shown with the render's report


class ClipExtractor:
    """Collects camera-space joints (mm, OpenCV axes) of several characters over ``frame_times``.

    ``frame_times`` are scene frames, fractional ones allowed (sub-frames), so a clip can be
    resampled to the model's frame rate ``fps`` while it is read. With ``masks`` each frame's
    SCAIL-2 mask labels are collected too (``masks.labels``), from the characters' meshes; with
    ``shading`` also the grey of the mesh driving video (see ``MaskCollector``).
    """

    def __init__(self, scene: bpy.types.Scene, characters: Sequence[Character | bpy.types.Object],
                 camera: bpy.types.Object | None = None, frame_times: Sequence[float] | None = None,
                 fps: float | None = None, size: tuple[int, int] | None = None,
                 framing: Framing = "sensor", masks: bool = False, shading: bool = False) -> None:
        self.scene = scene
        self.camera = camera
        params = camera_params(scene, camera)
        self.size = size if size is not None else (params.res_y, params.res_x)
        self.framing = framing
        self.intrinsics: Intrinsics = intrinsics_from_camera(params, self.size, framing)
        self.framing_note = framing_note(params, self.size, framing)
        if frame_times is None:
            frame_times = range(scene.frame_start, scene.frame_end + 1, max(scene.frame_step, 1))
        self.frame_times = [float(t) for t in frame_times]
        if not self.frame_times:
            raise RigMappingError("no frames to extract; check the scene's frame range")
        self.fps = float(fps) if fps else scene.render.fps / scene.render.fps_base
        self.mm_per_unit = scene.unit_settings.scale_length * 1000.0
        self.characters = [self._prepare(c if isinstance(c, Character) else Character(c)) for c in characters]
        if not self.characters:
            raise RigMappingError("no characters to extract; select at least one armature")
        self.heights_m = [self._height_m(c) for c in self.characters]
        self.scales = [c.scale if c.scale is not None else auto_scale(h)
                       for c, h in zip(self.characters, self.heights_m)]
        self.warnings: list[str] = []
        self._start = (scene.frame_current, scene.frame_subframe)
        self.masks: MaskCollector | None = None
        if masks:
            cam = camera if camera is not None else scene.camera
            self.masks = MaskCollector(scene, [c.obj for c in self.characters], self.intrinsics, self.size,
                                       self.mm_per_unit, self.scales,
                                       (cam.data.clip_start * self.mm_per_unit, cam.data.clip_end * self.mm_per_unit),
                                       len(self.frame_times), shading=shading)
        self._points = np.full((len(self.frame_times), len(self.characters), 71, 3), np.nan, np.float32)
        self._next = 0
        self._closed = False

    @staticmethod
    def _prepare(character: Character) -> Character:
        check_armature(character.obj)
        if character.bonemap is None:
            bonemap, report = map_armature(character.obj)
            if not report.ok:
                raise RigMappingError(f"'{character.obj.name}': {report.summary()}")
            return Character(character.obj, bonemap, character.scale, report)
        check_bonemap(character.obj, character.bonemap)
        missing = character.bonemap.missing_required()
        if missing:
            raise RigMappingError(f"'{character.obj.name}' has no bone for {', '.join(missing)}; "
                                  "set them in the bone mapping")
        return character

    def _height_m(self, character: Character) -> float | None:
        rest = rest_points_world(character.obj, character.bonemap)[:24]
        return skeleton_height(rest * self.mm_per_unit / 1000.0)

    @property
    def done(self) -> bool:
        return self._next >= len(self.frame_times)

    @property
    def progress(self) -> float:
        return self._next / len(self.frame_times)

    def step(self) -> None:
        """Evaluate the next frame; restores the user's frame after the last one."""
        if self.done:
            return
        time = self.frame_times[self._next]
        frame, subframe = split_time(time)  # 3.9999999 is frame 4, not frame 3 at subframe 0.99
        self.scene.frame_set(frame, subframe=subframe)
        params = camera_params(self.scene, self.camera)
        if intrinsics_from_camera(params, self.size, self.framing) != self.intrinsics and not self.warnings:
            self.warnings.append("the camera's lens, sensor or shift changes during the clip; "
                                 "the first frame's settings are used for the whole clip")
        to_camera = world_to_opencv(params)
        for p, character in enumerate(self.characters):
            world = sample_pose(character.obj, character.bonemap)
            camera = world @ to_camera[:3, :3].T + to_camera[:3, 3]
            # Scaling camera-space points about the camera centre keeps every projection.
            self._points[self._next, p] = camera * (self.mm_per_unit * self.scales[p])
        if self.masks is not None:
            self.masks.add_frame(to_camera, self._points[self._next])
        self._next += 1
        if self.done:
            self.close()

    @property
    def ready(self) -> bool:
        """Whether ``step`` would not wait for the mask labels of earlier frames."""
        return self.masks is None or self.masks.labels.ready

    def close(self) -> None:
        """Put the scene back on the frame it showed before extraction (also after a cancel)."""
        if not self._closed:
            self._closed = True
            if self.masks is not None:
                if self.done:
                    self.masks.labels.finish()
                else:
                    self.masks.labels.stop()
            self.scene.frame_set(self._start[0], subframe=self._start[1])

    def run(self) -> Motion:
        """Extract every remaining frame at once (command line, tests)."""
        try:
            while not self.done:
                self.step()
        finally:
            self.close()
        return self.motion()

    def motion(self) -> Motion:
        """The frames extracted so far as a Motion; unmapped points are zeros (missing)."""
        points = np.nan_to_num(self._points[: self._next], nan=0.0)
        return Motion(
            joints=points[:, :, :24].copy(),
            fps=self.fps,
            intrinsics=self.intrinsics,
            image_size=(int(self.size[0]), int(self.size[1])),
            hands=points[:, :, 24:66].reshape(len(points), len(self.characters), 2, 21, 3).copy(),
            head_marks=points[:, :, 66:71].copy(),
            person_ids=[c.obj.name for c in self.characters],
            source=f"blender:{self.scene.name}; {self.framing_note}",
        )
