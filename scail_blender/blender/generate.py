"""Generate from the panel: the job built from the scene's settings, sent to the chosen backend.

Everything is read and checked here on the main thread (files exist, size, online access), so a
mistake is reported by the operator at once; what runs afterwards gets plain values only. The
job becomes a row of the job board (``board.py``), which sends it from a thread: in Blender's
own runner (torch is imported when its first generation runs, never when the add-on is enabled)
or uploaded to the job server, whose id or refusal the row then shows.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import replace
from pathlib import Path

import bpy

from . import backends, board, prefs
from ..jobs.contract import Job, JobInputs, JobSettings
from ..jobs.loras import LoraSpec
from ..errors import InputError
from ..pose.framing import is_model_size
from ..pose.outputs import strip_video_path
from .scene_render import default_video_path, multianimate_paths
from .compat import strips
from .sequencer import find_movie


def pose_video_path(context: bpy.types.Context) -> Path:
    settings = context.scene.scail
    if settings.pose_source == "FILE":
        if not settings.pose_file:
            raise InputError("Pose video is 'Chosen File' but no file is chosen: pick an mp4 in the panel")
        path = Path(bpy.path.abspath(settings.pose_file))
    elif settings.pose_source == "STRIP":
        path = strip_file(context.scene, settings.pose_strip)
    else:
        path = default_video_path(context.scene, prefs.output_folder(context))
    if not path.is_file():
        hint = "press Render Pose Video first" if settings.pose_source == "RENDERED" else "choose an existing file"
        raise InputError(f"The pose video {path} does not exist: {hint}")
    return path


def strip_file(scene: bpy.types.Scene, name: str) -> Path:
    """The file of the Sequencer's movie strip ``name`` (the driving video of end-to-end driving
    or a replacement plate)."""
    editor = scene.sequence_editor
    strip = strips(editor).get(name) if editor is not None and name else None
    if strip is None or strip.type != "MOVIE":
        movies = ", ".join(s.name for s in strips(editor) if s.type == "MOVIE") if editor is not None else ""
        raise InputError(f"Pose Video is 'Sequencer Strip' but {name or 'no strip'!r} is no movie strip of "
                         f"{scene.name!r}: pick one ({movies or 'the Sequencer has none: add the footage as a movie strip'})")
    return Path(os.path.normpath(bpy.path.abspath(strip.filepath)))  # "//../plate.mp4" resolved


def image_file(image: bpy.types.Image | None, fallback: Path, role: str = "reference image") -> str | None:
    """A file holding ``image``: its own file, else a PNG written to ``fallback`` (packed, generated
    or painted images). An image read from a file that has since been moved or deleted is refused:
    Blender holds no pixels of it to write, and the user must say where it went."""
    if image is None:
        return None
    own = Path(bpy.path.abspath(image.filepath)) if image.filepath else None
    if own is not None and not image.packed_file and not image.is_dirty:
        if own.is_file():
            return str(own)
        if image.source == "FILE":
            raise InputError(f"The {role} '{image.name}' was opened from {own}, which no longer exists (moved or "
                             "deleted): open it again from where it is now under Reference and Prompt, or pick "
                             "another image")
    fallback.parent.mkdir(parents=True, exist_ok=True)
    image.save_render(str(fallback))
    return str(fallback)


def lora_stack(context: bpy.types.Context) -> list[LoraSpec]:
    """The panel's LoRA list (those ticked, top first) as the job's stack. A path relative to the
    .blend becomes absolute; in Blender's own runner every entry must be a file here, while for a
    server a plain name that is no file here names one of the server's LoRAs (the client uploads
    the ones that are files)."""
    p = prefs.preferences(context)
    in_process = p is not None and p.backend == "IN_PROCESS"
    stack = []
    for index, item in enumerate(context.scene.scail.loras):
        if not item.enabled:
            continue
        if not item.name:
            raise InputError(f"LoRA {index + 1} of the list has no file: pick a .safetensors file or remove it")
        name = bpy.path.abspath(item.name) if item.name.startswith("//") else item.name
        if in_process and not Path(name).is_file():
            raise InputError(f"The LoRA {name} is not a file: pick the .safetensors file (names of a server's "
                             "LoRAs work with the Server backend)")
        stack.append(LoraSpec(name=name, strength=item.strength))
    return stack


def job_from_panel(context: bpy.types.Context) -> tuple[Job, board.Placement]:
    """The job and where its result goes, from the panel and the preferences."""
    from ..media.video import probe_header

    scene = context.scene
    settings = scene.scail
    if settings.reference_image is None:
        raise InputError("No reference image: open or pick one under Reference and Prompt")
    folder = prefs.output_folder(context)
    stem = default_video_path(scene, folder).stem.removesuffix("_pose")
    pose = pose_video_path(context)
    info = probe_header(pose)
    size = (info.height, info.width)
    seed = settings.seed
    # Time and a random tag: two jobs sent in the same second never share a file.
    out = folder / f"{stem}_gen_{seed}_{time.strftime('%Y%m%d-%H%M%S')}_{secrets.token_hex(2)}.mp4"
    # Images without a file of their own are saved per job: a later Generate never changes a queued job's input.
    reference = image_file(settings.reference_image, out.with_name(f"{out.stem}_reference.png"))
    multianimate = prefs.multianimate_checkpoint(context)  # its own masks, never SCAIL-2's
    ref_mask = None if multianimate else image_file(settings.reference_mask,
                                                    out.with_name(f"{out.stem}_reference_mask.png"), "reference mask")
    pose_mask = str(Path(bpy.path.abspath(settings.pose_mask))) if settings.pose_mask and not multianimate else None
    if (ref_mask is None) != (pose_mask is None):
        raise InputError("SCAIL-2 needs both masks (reference mask and pose mask) or neither: set the missing one")
    if ref_mask is not None:
        check_mask_people(settings.reference_mask, pose_mask)
    driving = pose
    if settings.black_out and settings.pose_source != "RENDERED":
        if pose_mask is None:
            raise InputError("Black Out Outside People needs the Pose Mask of the driving video: set it, or untick it")
        from ..pose.footage import black_out_video

        driving = out.with_name(f"{out.stem}_driving.mp4")
        black_out_video(pose, pose_mask, driving)
    extra = [(image_file(item.image, out.with_name(f"{out.stem}_{item.view}.png"), f"{item.view} view"),
              image_file(item.mask, out.with_name(f"{out.stem}_{item.view}_mask.png"), f"{item.view} view mask"))
             for item in settings.extra_references
             if item.use and item.image is not None and item.mask is not None and not multianimate]
    inputs = JobInputs(reference_image=str(reference), pose_video=str(driving), prompt=settings.prompt,
                       negative_prompt=settings.negative_prompt, reference_mask=ref_mask, pose_mask=pose_mask,
                       extra_references=[image for image, _ in extra], extra_reference_masks=[mask for _, mask in extra])
    if multianimate:
        inputs = multianimate_inputs(inputs, pose)
    # The panel's fields (Sampler Preset > Default fills them with the checkpoint model's values);
    # the sampler is left to the model (UniPC for SCAIL, Euler for MultiAnimate).
    job = Job(inputs=inputs,
              settings=JobSettings(steps=settings.steps, cfg=settings.cfg, shift=settings.shift, seed=seed,
                                   mode=settings.mode,
                                   loras=lora_stack(context), lora_mode=settings.lora_mode,
                                   height=size[0] if is_model_size(size) else None,
                                   width=size[1] if is_model_size(size) else None),
              output=str(out))
    job.validate()
    scene_fps = scene.render.fps / scene.render.fps_base
    strip = find_movie(scene, [pose, strip_video_path(pose, scene_fps)])
    start, _ = settings.frame_range(scene)
    placement = board.Placement(blend=bpy.data.filepath, scene=scene.name,
                               frame_start=strip.frame_final_start if strip else start,
                               channel=strip.channel + 1 if strip else 1, scene_fps=scene_fps,
                               prompt=settings.prompt, seed=seed)
    return job, placement


def multianimate_inputs(inputs: JobInputs, pose: Path) -> JobInputs:
    """The job's inputs for a MultiAnimate checkpoint: the skeletons, character masks (identity
    order) and reference skeleton that Render Pose Video wrote beside ``pose``."""
    dwpose, folder, _ = multianimate_paths(pose)
    masks = sorted(folder.glob("character_*.mp4"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if not dwpose.is_file() or not masks or not (folder / "reference_pose.png").is_file():
        raise InputError(f"The checkpoint is MultiAnimate, which needs the skeletons and character masks of the pose "
                         f"render ({dwpose.name}, {folder.name}/): press Render Pose Video again")
    return replace(inputs, pose_video=str(dwpose), character_masks=[str(p) for p in masks],
                   reference_pose=str(folder / "reference_pose.png"))


def check_mask_people(reference_mask: bpy.types.Image, pose_mask: str) -> None:
    """The people check of the job's inputs (``check_people_match``), made here so Generate refuses
    a reference mask and pose mask that show different people before anything is sent."""
    from ..media.video import read_video
    from ..pose.reference_mask import check_people_match, people_in_frames, people_in_mask
    from .reference_panel import image_pixels

    check_people_match(people_in_mask(image_pixels(reference_mask)[..., :3]), people_in_frames(read_video(pose_mask)))


def submit(context: bpy.types.Context, job: Job, placement: board.Placement) -> board.JobRecord:
    """Send the job to the preferences' backend: a row on the job board."""
    label = f"seed {placement.seed}: {placement.prompt or '(no prompt)'}"
    return board.send("generate", label, backends.chosen(context, generate=True), job, placement)
