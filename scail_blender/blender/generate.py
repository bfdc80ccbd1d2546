"""Generate from the panel: the job built from the scene's settings, sent to the chosen backend.

Everything is read and checked here on the main thread (files exist, size, online access), so a
mistake is reported by the operator at once; what runs afterwards gets plain values only. The
in-process backend is a ``LocalRunner`` (torch is imported when its first job runs, never when
the add-on is enabled); the server backend is ``ServerJobs`` over the HTTP client, whose upload
runs in a thread: the job list shows it uploading, then the server's id or its refusal.
"""

from __future__ import annotations

import importlib.util
import secrets
import time
import uuid
from pathlib import Path

import bpy

from . import jobs, prefs
from ..backend.install import add_to_path
from ..backend.jobs import Job, JobInputs, JobSettings
from ..backend.local_server import is_loopback_url
from ..backend.runner import JobStatus
from ..errors import InputError
from ..pose.framing import is_model_size
from ..pose.outputs import strip_video_path
from .scene_render import default_video_path
from .sequencer import find_movie


def require_online_access(url: str, what: str) -> None:
    """Blender's rule: no network but loopback unless the user allowed online access."""
    if not is_loopback_url(url) and not bpy.app.online_access:
        raise InputError(f"{what} needs the network ({url}) but Blender's online access is off: allow it in "
                         "Preferences > System > Network > Allow Online Access (or start Blender without "
                         "--offline-mode), or use a server on this machine (http://127.0.0.1:PORT)")


def pose_video_path(context: bpy.types.Context) -> Path:
    settings = context.scene.scail
    if settings.pose_source == "FILE":
        if not settings.pose_file:
            raise InputError("Pose video is 'Chosen File' but no file is chosen: pick an mp4 in the panel")
        path = Path(bpy.path.abspath(settings.pose_file))
    else:
        path = default_video_path(context.scene, prefs.output_folder(context))
    if not path.is_file():
        hint = "press Render Pose Video first" if settings.pose_source == "RENDERED" else "choose an existing file"
        raise InputError(f"The pose video {path} does not exist: {hint}")
    return path


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


def job_from_panel(context: bpy.types.Context) -> tuple[Job, jobs.Placement]:
    """The job and where its result goes, from the panel and the preferences."""
    from ..pose.video import probe_header

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
    ref_mask = image_file(settings.reference_mask, out.with_name(f"{out.stem}_reference_mask.png"), "reference mask")
    pose_mask = str(Path(bpy.path.abspath(settings.pose_mask))) if settings.pose_mask else None
    if (ref_mask is None) != (pose_mask is None):
        raise InputError("SCAIL-2 needs both masks (reference mask and pose mask) or neither: set the missing one")
    job = Job(inputs=JobInputs(reference_image=str(reference), pose_video=str(pose), prompt=settings.prompt,
                               negative_prompt=settings.negative_prompt, reference_mask=ref_mask, pose_mask=pose_mask),
              settings=JobSettings(steps=settings.steps, cfg=settings.cfg, seed=seed,
                                   height=size[0] if is_model_size(size) else None,
                                   width=size[1] if is_model_size(size) else None),
              output=str(out))
    job.validate()
    scene_fps = scene.render.fps / scene.render.fps_base
    strip = find_movie(scene, [pose, strip_video_path(pose, scene_fps)])
    start, _ = settings.frame_range(scene)
    placement = jobs.Placement(blend=bpy.data.filepath, scene=scene.name,
                               frame_start=strip.frame_final_start if strip else start,
                               channel=strip.channel + 1 if strip else 1, scene_fps=scene_fps,
                               prompt=settings.prompt, seed=seed)
    return job, placement


def submit(context: bpy.types.Context, job: Job, placement: jobs.Placement) -> jobs.JobRecord:
    """Send the job to the preferences' backend and add it to the job list."""
    p = prefs.preferences(context)
    backend = p.backend if p is not None else "SERVER"
    if backend == "IN_PROCESS":
        runner = in_process_runner(context)
        handle = runner.submit(job, listener=jobs.job_listener(placement))
        record = jobs.JobRecord(id=handle.id, backend=backend, placement=placement, status=handle.status,
                                handle=handle)
    else:
        url = p.server_url if p is not None else "http://127.0.0.1:8188"
        require_online_access(url, "Generate")
        from ..backend.remote import ServerJobs

        job.validate()
        server = ServerJobs(url, p.server_token if p is not None else None)
        key = f"upload-{uuid.uuid4().hex[:12]}"
        record = jobs.JobRecord(id=key, backend=backend, placement=placement, status=JobStatus(id=key), handle=server)
        jobs.upload(server, job, key, jobs.job_listener(placement, key))
    record.label = f"seed {placement.seed}: {placement.prompt or '(no prompt)'}"
    jobs.add_record(record)
    return record


def in_process_runner(context: bpy.types.Context):
    """The in-process runner on the preferences' checkpoint, made on first use (model loads with its first job)."""
    from ..backend.runner import LocalRunner

    checkpoint = str(prefs.checkpoint_folder(context))
    add_to_path(prefs.backend_site(create=False))
    if importlib.util.find_spec("torch") is None:
        raise InputError("torch is not importable in Blender's Python: press Install Backend in the add-on "
                         "preferences, or choose the Server backend and Start Local Server with a Python that has torch")
    runner = jobs.backends.get("IN_PROCESS")
    if runner is not None and str(runner.checkpoint) != str(Path(checkpoint)):
        if any(r.backend == "IN_PROCESS" and not r.final for r in jobs.records.values()):
            raise InputError("The checkpoint folder changed while jobs run in Blender: wait for them or cancel them")
        runner.close()  # idle: returns at once
        runner = None
    if runner is None:
        runner = jobs.backends["IN_PROCESS"] = LocalRunner(checkpoint)
    return runner
