"""The server's one job queue: storage and the runner, kept in step.

Every path of a job goes through here: accept (check the upload, store it, queue it), status
changes from the runner (written to SQLite as they happen), cancel, delete, restart recovery and
retention. Routes only translate HTTP to these calls.
"""

from __future__ import annotations

import json
import logging
import resource
import shutil
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pydantic

from scail_blender.jobs.contract import AnyJob, ExtractJob, ExtractSettings, Job, JobInputs, JobSettings
from scail_blender.jobs.model_inputs import check_model
from scail_blender.jobs.references import character_masks_from_files, extra_references_from_files
from scail_blender.jobs.loras import check_loras, migrate_settings
from scail_blender.jobs.runner import JobHandle, LocalRunner
from scail_blender.jobs.status import JobStatus
from scail_blender.errors import InputError, ScailError

from .errors import ApiError, not_found
from .limits import check_pixels_frames, max_pixels_frames
from .loras import job_loras
from .schemas import EXTRACT_REQUEST, JOB_REQUEST, JobRequest, JobView, ModelInfo
from .settings import Settings
from .storage import DiskFull, Record, Storage, replace_atomically
from .uploads import Upload

if TYPE_CHECKING:
    from .cluster import RayRunner

log = logging.getLogger(__name__)

RESULT_NAME = "result.mp4"
MOTION_NAME = "result.npz"  # an extraction job's result


class JobService:
    def __init__(self, settings: Settings, storage: Storage, runner: LocalRunner | RayRunner, variant: str) -> None:
        self.settings = settings
        self.storage = storage
        self.runner = runner
        self.variant = variant
        self.max_pixels_frames = max_pixels_frames(settings.max_pixels_frames, runner.device, settings.ray is not None)
        log.info("jobs may have up to %d pixel-frames, height x width x frames (--max-pixels-frames)",
                 self.max_pixels_frames)
        self._handles: dict[str, JobHandle] = {}  # jobs the runner holds (queued or running)
        self._lock = threading.Lock()  # one order for the database and the queue
        self._closing = False

    # Submitting --------------------------------------------------------------------------------

    def accept(self, upload: Upload) -> JobView:
        """Check a received upload completely, then store and queue it; nothing is queued on error."""
        request = _parse_request(upload.job_json)
        for name in ("reference", "pose"):
            if name not in upload.files:
                raise ApiError(400, "invalid_upload", f"the '{name}' file is missing; send the reference image as "
                               "'reference' and the pose video as 'pose'")
        files = upload.files
        settings = JobSettings(**asdict(request.settings))
        try:
            check_loras(settings.loras)
        except InputError as exc:
            raise ApiError(400, "invalid_lora", str(exc)) from None
        extra_images, extra_masks = extra_references_from_files(files)
        lora_files = job_loras(settings.loras, files, self.settings.lora_dir)
        job = Job(inputs=JobInputs(reference_image=str(files["reference"]), pose_video=str(files["pose"]),
                                   prompt=request.prompt, negative_prompt=request.negative_prompt,
                                   reference_mask=_str(files.get("reference_mask")),
                                   pose_mask=_str(files.get("pose_mask")), lora_files=lora_files,
                                   extra_references=extra_images, extra_reference_masks=extra_masks,
                                   character_masks=character_masks_from_files(files),
                                   reference_pose=_str(files.get("reference_pose"))),
                  settings=settings)
        self._check_model_fit(job)
        # Imported here so the server's modules import without torch (the app has loaded it by now).
        from scail_blender.engine.inputs import check_inputs
        from scail_blender.engine.multianimate.jobs import check_files

        try:  # decodes the images, probes the videos: what the pipeline would refuse
            if self.variant == "multianimate":
                size, frames, _ = check_files(job)
            else:
                checked = check_inputs(job)
                size, frames = checked.size, checked.frames
        except ScailError as exc:  # name the uploaded field, not the server's temporary path
            raise type(exc)(str(exc).replace(f"{upload.folder}/", "uploaded ")) from None
        check_pixels_frames(size, frames, self.max_pixels_frames)
        return self._store(job, upload.folder, RESULT_NAME)

    def accept_extract(self, upload: Upload) -> JobView:
        """An extraction upload (video, optional align_ref, settings JSON), checked like a job's."""
        weights = self._pose_weights()
        settings = _parse_extract_settings(upload.job_json)
        if "video" not in upload.files:
            raise ApiError(400, "invalid_upload", "the 'video' file is missing; send the driving video as 'video' "
                           "(and optionally the reference image as 'align_ref')")
        files = upload.files
        job = ExtractJob(video=str(files["video"]), align_ref=_str(files.get("align_ref")), settings=settings,
                         weights=str(weights))
        # Imported here so the server's modules import without torch (the app has loaded it by now).
        from scail_blender.engine.preprocess import load_image
        from scail_blender.media.video import probe_header

        try:
            job.validate()
            probe_header(job.video)  # what the extraction would refuse, refused now
            if job.align_ref is not None:
                load_image(job.align_ref, "align_ref image")
        except ScailError as exc:  # name the uploaded field, not the server's temporary path
            raise type(exc)(str(exc).replace(f"{upload.folder}/", "uploaded ")) from None
        return self._store(job, upload.folder, MOTION_NAME)

    def _pose_weights(self) -> Path:
        """The server's pose weights folder, checked; a missing one is the server's fault (503)."""
        from scail_blender.extract.weights import find_weights

        if self.settings.ray is not None:
            raise ApiError(503, "extract_unavailable", "motion extraction does not run on the Ray cluster yet; "
                           "send extraction jobs to a server started without --ray")
        folder = self.settings.pose_weights
        if folder is None:
            raise ApiError(503, "extract_unavailable", "this server has no pose weights, so it cannot extract "
                           "motion; its operator starts it with --pose-weights DIR (or $SCAIL_POSE_WEIGHTS)")
        try:
            find_weights(folder)
        except InputError as exc:
            raise ApiError(503, "extract_unavailable", f"this server cannot extract motion: {exc}") from None
        return folder

    def _store(self, job: AnyJob, upload_folder: Path, result_name: str) -> JobView:
        """Move the checked upload into the job's folder, record the job and queue it."""
        with self._lock:
            job_id = self.storage.new_id()
            folder = self.storage.job_dir(job_id)
            replace_atomically(upload_folder, folder)
            job = _moved(job, upload_folder, folder)
            job.output = str(folder / result_name)
            status = JobStatus(id=job_id, created=time.time())
            try:
                self.storage.add(job, status)
            except DiskFull:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self._queue(job, status)
        log.info("job %s accepted (%s)", job_id, "extract" if isinstance(job, ExtractJob) else "generate")
        return JobView.of(status, job, 0)

    def _check_model_fit(self, job: Job) -> None:
        """The checks the pipeline makes once the model is loaded, made now from the checkpoint's variant."""
        s, inputs = job.settings, job.inputs
        if s.variant is not None and s.variant != self.variant:
            raise InputError(f"settings.variant is {s.variant} but this server runs a {self.variant} checkpoint; "
                             "drop the variant setting or use a server with the matching checkpoint")
        if s.mode == "replacement" and self.variant != "scail2":
            raise InputError("replacement mode needs a SCAIL-2 checkpoint; use mode 'animation'")
        if inputs.extra_references and self.variant != "scail2":
            raise InputError("extra reference views need a SCAIL-2 checkpoint and this server runs "
                             f"{self.variant}; send the job without them")
        if self.variant == "scail2" and not (inputs.reference_mask and inputs.pose_mask):
            raise InputError("this server runs SCAIL-2, which needs the files reference_mask and pose_mask: the "
                             "character painted in one colour on black, in the reference and in every pose frame")
        check_model(job, self.variant)  # the rest, MultiAnimate's files and settings among them

    def _queue(self, job: AnyJob, status: JobStatus) -> None:
        handle = self.runner.submit(job, job_id=status.id, listener=self._changed)
        self._handles[status.id] = handle

    def _changed(self, status: JobStatus) -> None:
        """The runner's listener (its worker thread): every change goes to disk at once."""
        with self._lock:
            if self._closing:  # the stop re-queued it; later changes must not overwrite that
                return
            if self.storage.get(status.id) is None:  # deleted while it ran
                if status.final:
                    self._handles.pop(status.id, None)
                    shutil.rmtree(self.storage.job_dir(status.id), ignore_errors=True)
                return
            self.storage.update(status)
            if status.final:
                self._handles.pop(status.id, None)
        if status.final:
            log.info("job %s %s%s", status.id, status.state, f": {status.error.message}" if status.error else "")

    # Reading -----------------------------------------------------------------------------------

    def record(self, job_id: str) -> Record:
        record = self.storage.get(job_id)
        if record is None:
            raise not_found(job_id)
        return record

    def view(self, job_id: str) -> JobView:
        record = self.record(job_id)
        return JobView.of(record.status, record.job, record.attempts)

    def handle(self, job_id: str) -> JobHandle | None:
        with self._lock:
            return self._handles.get(job_id)

    def result_file(self, job_id: str) -> Path:
        record = self.record(job_id)
        if record.status.state != "succeeded":
            raise ApiError(409, "not_ready", f"job {job_id} is {record.status.state}; the result exists once it "
                           "has succeeded (watch GET /v1/jobs/ID/events)")
        path = self.storage.job_dir(job_id) / (MOTION_NAME if isinstance(record.job, ExtractJob) else RESULT_NAME)
        if not path.is_file():
            raise ApiError(410, "gone", f"the result of job {job_id} was removed from the server's disk")
        return path

    # Changing ----------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> JobView:
        self.record(job_id)
        handle = self.handle(job_id)
        if handle is not None:
            handle.cancel()  # a queued job is cancelled at once, a running one after its current step
        return self.view(job_id)

    def delete(self, job_id: str) -> None:
        """Cancel the job if it runs and remove its record and files; a running job's folder is removed
        again when it stops (it may still be writing)."""
        self.record(job_id)
        handle = self.handle(job_id)
        if handle is not None:
            handle.cancel()
        with self._lock:
            self.storage.delete(job_id)
        log.info("job %s deleted", job_id)

    # Start-up and upkeep -----------------------------------------------------------------------

    def recover(self) -> int:
        """Queue again every job that was queued or running when the server stopped."""
        records = self.storage.recover()
        with self._lock:
            for record in records:
                self._queue(record.job, record.status)
        return len(records)

    def remove_expired(self) -> int:
        if self.settings.keep_days is None:
            return 0
        expired = self.storage.expired(self.settings.keep_days)
        for job_id in expired:
            with self._lock:
                self.storage.delete(job_id)
        if expired:
            log.info("removed %d jobs older than %g days", len(expired), self.settings.keep_days)
        return len(expired)

    def queued(self) -> int:
        with self._lock:  # statuses are read outside: the worker holds a handle's lock when it calls in
            handles = list(self._handles.values())
        return sum(1 for h in handles if h.status.state == "queued")

    def stop(self) -> None:
        """A clean stop (SIGTERM, Ctrl-C): every running job goes back to the queue in the database
        without using up an attempt (one with the local runner, one per busy worker with Ray), and the
        runner interrupts it after its current step; queued jobs stay queued for the next start. A
        running job the user had already asked to cancel is written cancelled. From here on the
        runner's changes are not written: the database says what the next start must do."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            handles = list(self._handles.values())
            running = set(self.storage.running())
        requeued = 0
        for handle in handles:  # statuses are read outside the lock (see ``queued``)
            if handle.id in running and handle.cancel_event.is_set():
                self.storage.update(replace(handle.status, state="cancelled", finished=time.time(),
                                            eta_seconds=None))
            elif handle.id in running:
                try:
                    self.storage.requeue(handle.id)
                    requeued += 1
                except DiskFull:
                    log.warning("job %s: the full disk refused putting it back in the queue; the next start "
                                "counts this stop as an interrupted attempt", handle.id)
        self.runner.stop()
        log.info("stopping: %d running job(s) queued again for the next start", requeued)

    def model_info(self) -> ModelInfo:
        memory = {"process_rss": _rss_bytes()}
        torch = sys.modules.get("torch")
        device = self.runner.device or "cpu"
        if torch is not None and device.startswith("cuda") and torch.cuda.is_available():
            memory["cuda_allocated"] = int(torch.cuda.memory_allocated(device))
            memory["cuda_reserved"] = int(torch.cuda.memory_reserved(device))
        return ModelInfo(checkpoint=str(self.settings.checkpoint), variant=self.variant, device=device,
                         loaded=self.runner.loaded, memory=memory)


def _parse_request(text: bytes) -> JobRequest:
    if not text:
        raise ApiError(400, "invalid_job", "the 'job' field is missing; send JSON like "
                       '{"prompt": "...", "negative_prompt": "", "settings": {"steps": 40}}')
    try:
        return JOB_REQUEST.validate_json(_migrated(text))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "job"
        kind = "unknown field" if first["type"] == "unexpected_keyword_argument" else first["msg"]
        raise ApiError(422, "invalid_job", f"job.{where}: {kind}" if where != "job" else f"job: {kind}") from None


def _migrated(text: bytes) -> bytes:
    """The job JSON with an old client's single ``settings.lora``/``lora_strength`` as a stack of one
    and its bool ``compile`` as on/off (``migrate_settings``); anything else unchanged, for pydantic."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    settings = data.get("settings") if isinstance(data, dict) else None
    if not isinstance(settings, dict) or not ({"lora", "lora_strength"} & settings.keys()
                                              or isinstance(settings.get("compile"), bool)):
        return text
    try:
        migrated = migrate_settings(settings)
    except (InputError, TypeError) as exc:
        raise ApiError(422, "invalid_job", f"job.settings: {exc}") from None
    data["settings"] = {**migrated, "loras": [asdict(spec) for spec in migrated["loras"]]}
    return json.dumps(data).encode()


def _parse_extract_settings(text: bytes) -> ExtractSettings:
    if not text:
        return ExtractSettings()
    try:
        return ExtractSettings(**asdict(EXTRACT_REQUEST.validate_json(text)))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        kind = "unknown field" if first["type"] == "unexpected_keyword_argument" else first["msg"]
        raise ApiError(422, "invalid_job", f"settings.{where}: {kind}" if where else f"settings: {kind}") from None


def _moved(job: AnyJob, old: Path, new: Path) -> AnyJob:
    """The same job with its uploaded files' paths in the job's own folder (a LoRA of the server's
    folder stays where it is)."""
    def move(path: str | None) -> str | None:
        return path if path is None or not Path(path).is_relative_to(old) else str(new / Path(path).relative_to(old))

    if isinstance(job, ExtractJob):
        return replace(job, video=move(job.video), align_ref=move(job.align_ref))

    i = job.inputs
    return Job(inputs=replace(i, reference_image=move(i.reference_image), pose_video=move(i.pose_video),
                              reference_mask=move(i.reference_mask), pose_mask=move(i.pose_mask),
                              lora_files={name: move(path) for name, path in i.lora_files.items()},
                              extra_references=[move(p) for p in i.extra_references],
                              extra_reference_masks=[move(p) for p in i.extra_reference_masks],
                              character_masks=None if i.character_masks is None else
                              [move(p) for p in i.character_masks], reference_pose=move(i.reference_pose)),
               settings=job.settings, output=job.output)


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:  # not Linux: the peak is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
