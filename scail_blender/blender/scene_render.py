"""Render a Blender scene's characters to a SCAIL pose video: the same code for the panel,
the command line and tests.

Reading joints needs ``scene.frame_set`` on the main thread, so a render is split in steps:
``PoseRenderJob.tick`` samples a few frames within a time budget (the job board's timer calls
it so Blender stays responsive), then renders and encodes in a worker thread that
never touches bpy, then puts the strip into the Sequencer back on the main thread.
``render_pose_video`` runs the same steps synchronously. Everything the user can get wrong
is checked by ``plan_pose_render`` before the scene is touched, and a failed or cancelled
render restores the current frame and leaves no output and no strip behind.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from .characters import IN_BLENDER, Advice, choose_characters, scene_characters
from ..errors import Cancelled, CameraError, InputError
from ..pose.framing import require_model_size
from ..pose.identity import background
from ..pose.silhouettes import GreyFrames
from ..pose.skeleton import smpl_to_scail
from ..pose.outputs import PoseFiles, strip_video_path
from ..outputs import check_outputs
from ..motion.pose_video import frame_motion, motion_frames, write_pose_video
from ..motion.multianimate_inputs import character_mask_paths
from ..jobs.characters import check_characters
from ..progress import Progress
from .camera import camera_params
from ..rig.bonemap import BoneMap
from ..rig.camera import FRAMINGS, Framing, default_pose_size, framing_note
from .scene_motion import Character, ClipExtractor
from .sequencer import place_movie
from ..timing import pose_frame_count, sample_times, scene_rate_indices

MAX_POSE_FRAMES = 10_000
# What the pose video shows: the SCAIL skeleton, or the characters' meshes (SCAIL-2 mesh driving).
DRIVINGS = ("skeleton", "mesh")


@dataclass
class PoseRender:
    """One validated render request: plain values plus the scene objects it reads."""

    scene: bpy.types.Scene
    characters: list[Character]
    camera: bpy.types.Object
    frame_start: int
    frame_end: int
    size: tuple[int, int]
    fps: float
    video: Path
    frames_dir: Path | None = None
    joints_out: Path | None = None
    add_strip: bool = True
    times: list[float] = field(default_factory=list)
    scheme: str = "preview"
    renderer: str = "auto"
    framing: Framing = "sensor"
    framing_note: str = ""
    character_lines: list[str] = field(default_factory=list)
    mask_out: Path | None = None
    mask_mode: str = "animation"
    driving: str = "skeleton"
    # The panel's render puts the mask it wrote into the panel's Pose Mask field.
    set_panel_mask: bool = False
    # MultiAnimate's character masks, one per character in identity order, cut from the same
    # per-frame labels as the SCAIL-2 mask; its skeletons are then drawn from the joints file.
    character_masks: list[Path] = field(default_factory=list)
    # The panel's render also writes the skeletons and reference skeleton (multianimate_paths).
    multianimate: bool = False

    def report_lines(self) -> list[str]:
        """What this render will use, in words: the camera framing and the characters."""
        return [f"scail: {line}" for line in [self.framing_note, *self.character_lines]]

    @property
    def scene_fps(self) -> float:
        return self.scene.render.fps / self.scene.render.fps_base


def default_video_path(scene: bpy.types.Scene, folder: Path) -> Path:
    stem = Path(bpy.data.filepath).stem if bpy.data.filepath else "untitled"
    return folder / f"{stem}_{bpy.path.clean_name(scene.name)}_pose.mp4"


def multianimate_paths(video: Path) -> tuple[Path, Path, Path]:
    """Where the panel writes a render's MultiAnimate inputs, beside its pose video: the skeleton
    video ``..._dwpose.mp4``, the folder ``..._characters/`` of the character masks and reference
    skeleton, and the joints file they are drawn from ``..._joints.npz``."""
    return (video.with_name(f"{video.stem}_dwpose{video.suffix}"), video.with_name(f"{video.stem}_characters"),
            video.with_name(f"{video.stem}_joints.npz"))


def default_mask_path(video: Path) -> Path:
    """Where the panel writes a render's SCAIL-2 mask: beside its pose video, ``..._pose_mask.mp4``."""
    return video.with_name(f"{video.stem}_mask{video.suffix}")


def plan_pose_render(scene: bpy.types.Scene, out: Path, *, characters: list[str] | None = None,
                     camera: str | None = None, frame_range: tuple[int, int] | None = None,
                     size: tuple[int, int] | None = None, fps: float = 16.0, frames_dir: Path | None = None,
                     joints_out: Path | None = None, add_strip: bool = True, scheme: str = "preview",
                     renderer: str = "auto", framing: Framing = "sensor",
                     bonemaps: list[BoneMap] | None = None, overwrite: bool = False,
                     advice: Advice = IN_BLENDER, mask_out: Path | None = None,
                     mask_mode: str = "animation", driving: str = "skeleton",
                     character_masks: Path | None = None, checkpoint: Path | None = None) -> PoseRender:
    """Check every input and resolve characters and camera before anything runs.

    ``size`` None follows the camera: SCAIL's official size in the camera's orientation. A size
    of another aspect than the camera's render is framed by ``framing`` (see rig.camera), never
    stretched. ``bonemaps`` (saved bone maps) go with ``characters`` in order (see
    ``choose_characters``). Nothing is touched, neither the scene nor the disk: the outputs pass
    the one output policy (``scail_blender.outputs``; ``overwrite`` lets the frames folder replace
    its numbered frames) and their folders are made only when the files are written. ``advice``
    words a refusal for the front end (the panel by default; see ``characters.Advice``).
    ``mask_out`` also writes the SCAIL-2 driving mask (``mask_mode`` animation or replacement):
    each character's silhouette from its meshes (its capsule skeleton when it has none).
    ``driving`` "mesh" draws the pose video as the characters' own meshes, flat-shaded grey on
    black (SCAIL-2's mesh driving), instead of the SCAIL skeleton. ``character_masks``, a folder,
    also gets MultiAnimate's ``character_k.mp4`` (one binary mask per character, from the same
    silhouettes); more characters than ``checkpoint`` (a MultiAnimate folder: 3 or 7; without
    one 7) animates are refused here.
    """
    cam_obj = None
    if camera:
        cam_obj = scene.objects.get(camera)
        if cam_obj is None or cam_obj.type != "CAMERA":
            names = ", ".join(o.name for o in scene.objects if o.type == "CAMERA") or "none"
            raise CameraError(f"No camera named {camera!r} in scene {scene.name!r} (cameras: {names}).")
    params = camera_params(scene, cam_obj)  # raises CameraError for a missing or orthographic camera
    if framing not in FRAMINGS:
        raise InputError(f"Framing {framing!r} is unknown: use one of {', '.join(FRAMINGS)}.")
    start, end = frame_range or (scene.frame_start, scene.frame_end)
    if end < start:
        raise InputError(f"Frame range {start}:{end} ends before it starts: give START:END with START <= END.")
    if not 1 <= fps <= 120:
        raise InputError(f"Pose video frame rate {fps:g} is not usable: give 1 to 120 (SCAIL uses 16).")
    scene_fps = scene.render.fps / scene.render.fps_base
    count = pose_frame_count(start, end, scene_fps, fps)
    if count > MAX_POSE_FRAMES:
        raise InputError(f"Frame range {start}:{end} gives {count} pose frames, more than {MAX_POSE_FRAMES}: "
                         "render it in parts.")
    size = require_model_size(size if size is not None else default_pose_size(params))
    choice = choose_characters(scene, characters, bonemaps, advice)
    masks = []
    if character_masks is not None:
        check_characters(len(choice.used), advice.fewer, checkpoint)
        masks = character_mask_paths(character_masks, len(choice.used))
    out = Path(out)
    if joints_out is not None and Path(joints_out).suffix.lower() != ".npz":
        raise InputError(f"The joints file {joints_out} is an .npz: end its name in .npz.")
    copy = strip_video_path(out, scene_fps) if add_strip and abs(scene_fps - fps) > 1e-6 else None
    background(mask_mode, "driving")  # an unknown mode is refused by name
    if driving not in DRIVINGS:
        raise InputError(f"Driving {driving!r} is unknown: use one of {', '.join(DRIVINGS)}.")
    check_outputs({"the pose video": out, "the scene-rate copy": copy, "the joints file": joints_out,
                   "the mask video": mask_out, **{f"character mask {k + 1}": m for k, m in enumerate(masks)}},
                  inputs={"the .blend file": bpy.data.filepath}, frames={"the frames folder": frames_dir},
                  overwrite=overwrite)
    return PoseRender(scene=scene, characters=choice.used, camera=cam_obj or scene.camera,
                      frame_start=start, frame_end=end, size=size, fps=float(fps), video=out,
                      frames_dir=Path(frames_dir) if frames_dir else None,
                      joints_out=Path(joints_out) if joints_out else None, add_strip=add_strip,
                      times=sample_times(start, end, scene_fps, fps),
                      scheme=scheme, renderer=renderer, framing=framing,
                      framing_note=framing_note(params, size, framing), character_lines=choice.lines(),
                      mask_out=Path(mask_out) if mask_out else None, mask_mode=mask_mode, driving=driving,
                      character_masks=masks)


def check_camera_outside(motion) -> None:
    """Refuse a clip where the camera sits inside a character (joints all around it): the
    picture would be limbs sweeping across the whole frame."""
    joints = smpl_to_scail(motion.joints)
    valid = np.any(joints != 0, axis=-1)
    for t in range(motion.frames):
        for p in range(motion.people):
            pts = joints[t, p][valid[t, p]]
            if len(pts) >= 4 and np.all(pts.min(0) < 0) and np.all(pts.max(0) > 0):
                name = motion.person_ids[p] if motion.person_ids else f"person {p + 1}"
                raise CameraError(f"The camera is inside '{name}' at pose frame {t + 1} (its joints lie on every "
                                  "side of it): move the camera back or pick another camera. Nothing was written.")


def _encode(job: dict, motion, progress, cancel: threading.Event) -> PoseFiles:
    """The worker half, joints to files; ``job`` holds plain values only, never bpy data."""
    framed = frame_motion(dataclasses.replace(motion, fps=job["fps"]), size=job["size"])
    return write_pose_video(framed, job["video"], frames_dir=job["frames_dir"], joints_out=job["joints_out"],
                            strip=job["strip"], scheme=job["scheme"], renderer=job["renderer"],
                            progress=progress, cancel=cancel, mask_out=job["mask_out"], mask_mode=job["mask_mode"],
                            mask_labels=job["mask_labels"], driving_frames=job["driving_frames"],
                            character_masks=job["character_masks"])


class PoseRenderJob:
    """One render, advanced by ``tick`` from the main thread; see the module docstring."""

    def __init__(self, plan: PoseRender) -> None:
        self.plan = plan
        scene = plan.scene
        self.cancel_event = threading.Event()
        self.progress = 0.0
        self.message = "Reading joints"
        self._events: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        # Set by the worker when it is completely done. Waiting on it, not on Thread.join: a
        # join interrupted by Ctrl-C marks the thread finished in Python 3.11 (the interpreter
        # would then exit under a worker that still has temporary files open).
        self._finished = threading.Event()
        self._outcome: list = []
        self._extractor = ClipExtractor(scene, plan.characters, plan.camera, plan.times, fps=plan.fps, size=plan.size,
                                        framing=plan.framing, masks=plan.mask_out is not None or plan.driving == "mesh"
                                        or bool(plan.character_masks),
                                        shading=plan.driving == "mesh")
        self._read = 0

    def cancel(self) -> None:
        """Ask the render to stop; the next ``tick`` raises Cancelled once it has cleaned up."""
        self.cancel_event.set()

    def abort(self) -> None:
        """Stop now and wait for the cleanup (Blender is closing the operator or the file)."""
        self.cancel_event.set()
        if self._thread is not None:
            self._finished.wait()
        else:
            self._extractor.close()

    def tick(self, budget_s: float = 0.05) -> PoseFiles | None:
        """Advance for about ``budget_s`` seconds; the files once everything is done, else None.

        Raises the render's error (Cancelled after ``cancel``) with the scene restored.
        """
        if self._thread is None:
            try:
                self._read_joints(budget_s)
            except BaseException:
                self._extractor.close()
                raise
            return None
        self._drain()
        if not self._finished.is_set():
            return None
        self._thread.join()
        result = self._outcome[0]
        if isinstance(result, BaseException):
            raise result
        return self._finish(result)

    def run(self) -> PoseFiles:
        """Do the whole render now (command line, tests, scripts).

        Ctrl-C or SIGTERM lands here, in the main thread, while the worker writes: the worker is
        cancelled and waited for, so its temporary files are gone before the exception goes on.
        """
        try:
            while True:
                files = self.tick(budget_s=float("inf"))
                if files is not None:
                    return files
                if self._thread is not None:
                    self._finished.wait(0.05)
        except BaseException:
            self.abort()
            raise

    def _read_joints(self, budget_s: float) -> None:
        total = len(self.plan.times)
        deadline = time.perf_counter() + budget_s
        while not self._extractor.done:
            if self.cancel_event.is_set():
                raise Cancelled("Pose render cancelled; nothing was written.")
            if budget_s != float("inf") and not self._extractor.ready:
                break  # the mask labels are behind: give Blender the time instead of waiting
            self._extractor.step()
            self._read += 1
            if time.perf_counter() > deadline:
                break
        self.progress = 0.5 * self._read / total
        self.message = f"Reading joints {self._read}/{total}"
        if self._extractor.done:
            motion = self._extractor.motion()
            check_camera_outside(motion)
            self._start_worker(motion)

    def _start_worker(self, motion) -> None:
        plan = self.plan
        strip = None
        if plan.add_strip and abs(plan.scene_fps - plan.fps) > 1e-6:
            indices = scene_rate_indices(plan.frame_start, plan.frame_end, plan.scene_fps, plan.fps)
            strip = (strip_video_path(plan.video, plan.scene_fps), plan.scene_fps, indices)
        labels = self._extractor.masks.labels if self._extractor.masks is not None else None
        mesh = plan.driving == "mesh"
        job = {"size": plan.size, "fps": plan.fps, "video": plan.video, "strip": strip,
               "frames_dir": plan.frames_dir, "joints_out": plan.joints_out,
               "scheme": plan.scheme, "renderer": plan.renderer, "mask_out": plan.mask_out,
               "mask_mode": plan.mask_mode, "mask_labels": labels.layer(0) if mesh else labels,
               "driving_frames": GreyFrames(labels.layer(1)) if mesh else None,
               "character_masks": plan.character_masks}

        def progress(event: Progress) -> None:
            self._events.put((0.5 + 0.5 * event.fraction, event.message))

        def work() -> None:
            try:
                self._outcome.append(_encode(job, motion, progress, self.cancel_event))
            except BaseException as exc:  # handed to the main thread, which raises it
                self._outcome.append(exc)
            finally:
                self._finished.set()

        self._thread = threading.Thread(target=work, name="scail-pose-render", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                self.progress, self.message = self._events.get_nowait()
            except queue.Empty:
                return

    def _finish(self, files: PoseFiles) -> PoseFiles:
        plan = self.plan
        if plan.add_strip:
            strip_file = files.strip_video or files.video
            frames = files.strip_frames or files.frames
            try:
                place_movie(plan.scene, strip_file, plan.frame_start, frames)
            except BaseException:
                for path in (files.video, files.strip_video, plan.joints_out, files.mask, *files.character_masks):
                    if path is not None:
                        Path(path).unlink(missing_ok=True)
                raise
        if plan.multianimate:
            self._write_multianimate(files)
        if plan.set_panel_mask and files.mask is not None:
            # Relative to the .blend, as Blender's own file fields store paths.
            plan.scene.scail.pose_mask = bpy.path.relpath(str(files.mask)) if bpy.data.filepath else str(files.mask)
        mask = f" and {files.mask.name}" if files.mask is not None else ""
        self.progress, self.message = 1.0, f"Wrote {files.video}{mask}"
        return files


    def _write_multianimate(self, files: PoseFiles) -> None:
        """MultiAnimate's skeletons and reference skeleton from this render's joints, beside the
        character masks it wrote (``multianimate_inputs``); the masks of an earlier render with
        more characters go; if this fails the render's files go too."""
        from ..motion.io import load_motion
        from ..motion.multianimate_inputs import write_multianimate_inputs

        dwpose, folder, _ = multianimate_paths(self.plan.video)
        for old in set(folder.glob("character_*.mp4")) - set(files.character_masks):
            old.unlink(missing_ok=True)
        try:
            write_multianimate_inputs(load_motion(self.plan.joints_out), list(files.character_masks), dwpose, folder)
        except BaseException:
            files.remove()
            if self.plan.joints_out is not None:
                self.plan.joints_out.unlink(missing_ok=True)
            raise


def render_pose_video(plan: PoseRender) -> PoseFiles:
    """Render synchronously: the command line's and the tests' entry."""
    return PoseRenderJob(plan).run()


def preview_frame(scene: bpy.types.Scene, size: tuple[int, int] | None = None, framing: Framing = "sensor"):
    """The pose frame of the scene's current frame, as RGB uint8 (H, W, 3); ``size`` None
    follows the camera as a render does.

    The depth shading range comes from this frame alone, so a clip's frame can look slightly
    brighter or darker than its preview.
    """
    params = camera_params(scene, None)
    size = require_model_size(size if size is not None else default_pose_size(params))
    extractor = ClipExtractor(scene, scene_characters(scene), scene.camera,
                              [scene.frame_current + scene.frame_subframe], size=size, framing=framing)
    return next(iter(motion_frames(frame_motion(extractor.run(), size=size))))
