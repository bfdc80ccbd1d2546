"""``/v1/jobs``: submit (multipart), list, read, follow (server-sent events), download, cancel, delete;
``/v1/extract``: submit a motion extraction, a job of the same queue (followed and fetched as above)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from scail_blender.jobs.status import JobStatus

from ..schemas import EXTRACT_REQUEST, JOB_REQUEST, JobPage, JobView
from ..service import JobService
from ..uploads import EXTRACT_FIELD, EXTRACT_FILE_FIELDS, FILE_FIELDS, JOB_FIELD, Upload, receive_upload

router = APIRouter(tags=["jobs"])

KEEP_ALIVE_S = 15.0
STOPPING = object()  # what ``_next_change`` returns once the server stops
UPLOAD_SCHEMA = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["reference", "pose", JOB_FIELD],
        "properties": {
            **{name: {"type": "string", "format": "binary"} for name in FILE_FIELDS},
            JOB_FIELD: {**JOB_REQUEST.json_schema(), "description": "JSON text: prompt, negative_prompt and "
                        "settings (the fields of JobSettings; unknown fields are refused)"},
        },
    }}},
}


EXTRACT_SCHEMA = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["video"],
        "properties": {
            **{name: {"type": "string", "format": "binary"} for name in EXTRACT_FILE_FIELDS},
            EXTRACT_FIELD: {**EXTRACT_REQUEST.json_schema(), "description": "JSON text: people, smooth, device "
                            "(the fields of ExtractSettings; unknown fields are refused; optional)"},
        },
    }}},
}


def _service(request: Request) -> JobService:
    return request.app.state.service


@router.post("/jobs", status_code=201, response_model=JobView, openapi_extra={"requestBody": UPLOAD_SCHEMA},
             summary="Submit a job: files reference, pose (optional reference_mask, pose_mask, "
                     "extra_reference_K with extra_reference_mask_K), field job")
async def submit(request: Request) -> JobView:
    return await _accept_upload(request, FILE_FIELDS, JOB_FIELD, _service(request).accept)


@router.post("/extract", status_code=201, response_model=JobView, openapi_extra={"requestBody": EXTRACT_SCHEMA},
             summary="Extract motion: file video (optional align_ref), field settings; the result is a motion .npz")
async def submit_extract(request: Request) -> JobView:
    return await _accept_upload(request, EXTRACT_FILE_FIELDS, EXTRACT_FIELD, _service(request).accept_extract)


async def _accept_upload(request: Request, files: tuple[str, ...], json_field: str,
                         accept: Callable[[Upload], JobView]) -> JobView:
    """Stream an upload into a fresh folder and hand it to ``accept``; a refused upload's folder is
    removed (accepted files have been moved into their job's folder by then)."""
    service = _service(request)
    settings = service.settings
    folder = service.storage.new_upload_dir()
    try:
        upload = await receive_upload(request, folder, settings.max_upload_bytes, service.storage.free_bytes(),
                                      settings.min_free_mb * 2**20, files, json_field)
        return await run_in_threadpool(accept, upload)
    finally:
        if folder.exists():
            await run_in_threadpool(shutil.rmtree, folder, True)


@router.get("/jobs", response_model=JobPage, summary="Jobs in submission order")
def list_jobs(request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> JobPage:
    records, total = _service(request).storage.page(limit, offset)
    return JobPage(jobs=[JobView.of(r.status, r.job, r.attempts) for r in records], total=total, limit=limit,
                   offset=offset)


@router.get("/jobs/{job_id}", response_model=JobView)
def get_job(request: Request, job_id: str) -> JobView:
    return _service(request).view(job_id)


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: job` with the job's JSON at every change, ending with a "
                                            "final state (succeeded, failed, cancelled), or with `event: "
                                            "stopping` (JSON `{code, message}`) when the server stops: "
                                            "the job stays queued, ask again once the server is back"}})
async def job_events(request: Request, job_id: str) -> StreamingResponse:
    service = _service(request)
    stopping: asyncio.Event = request.app.state.stopping
    record = await run_in_threadpool(service.record, job_id)
    changes: asyncio.Queue[JobStatus] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    handle = await run_in_threadpool(service.handle, job_id)
    # Subscribed before the first snapshot is read, so no change falls between the two.
    unsubscribe = handle.subscribe(lambda s: loop.call_soon_threadsafe(changes.put_nowait, s)) if handle else None

    async def stream() -> AsyncIterator[str]:
        try:
            view = await run_in_threadpool(service.view, job_id)
            yield _event(view)
            while unsubscribe is not None and view.state not in ("succeeded", "failed", "cancelled"):
                status = await _next_change(changes, stopping)
                if status is None:
                    yield ": keep-alive\n\n"
                    continue
                if status is STOPPING:
                    yield _stopping_event(job_id)
                    return
                attempts = view.attempts + (status.state == "running" and view.state == "queued")
                view = JobView.of(status, record.job, attempts)
                yield _event(view)
        finally:
            if unsubscribe is not None:
                unsubscribe()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _event(view: JobView) -> str:
    return f"event: job\ndata: {json.dumps(view.model_dump(mode='json'))}\n\n"


async def _next_change(changes: asyncio.Queue[JobStatus], stopping: asyncio.Event) -> JobStatus | object | None:
    """The job's next change, ``STOPPING`` when the server stops first, None after a keep-alive's time."""
    if stopping.is_set():
        return STOPPING
    change, stop = asyncio.ensure_future(changes.get()), asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((change, stop), timeout=KEEP_ALIVE_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        change.cancel()
        stop.cancel()
    if change.done() and not change.cancelled():
        return change.result()
    return STOPPING if stopping.is_set() else None


def _stopping_event(job_id: str) -> str:
    message = (f"the server is stopping; job {job_id} stays in its queue and goes on when the server is started "
               "again: follow it again then")
    return f"event: stopping\ndata: {json.dumps({'code': 'server_stopping', 'message': message})}\n\n"


@router.get("/jobs/{job_id}/result", response_class=FileResponse,
            responses={200: {"content": {"video/mp4": {}, "application/octet-stream": {}},
                             "description": "the H.264 mp4, or the motion .npz of an extraction"}})
def job_result(request: Request, job_id: str) -> FileResponse:
    path = _service(request).result_file(job_id)
    if path.suffix == ".npz":
        return FileResponse(path, media_type="application/octet-stream", filename=f"scail-{job_id}.npz")
    return FileResponse(path, media_type="video/mp4", filename=f"scail-{job_id}.mp4")


@router.post("/jobs/{job_id}/cancel", response_model=JobView,
             summary="Cancel: a queued job at once, a running one after its current step")
def cancel_job(request: Request, job_id: str) -> JobView:
    return _service(request).cancel(job_id)


@router.delete("/jobs/{job_id}", status_code=204, summary="Cancel if needed, then remove the job and its files")
def delete_job(request: Request, job_id: str) -> Response:
    _service(request).delete(job_id)
    return Response(status_code=204)
