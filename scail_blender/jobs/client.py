"""The job server's API v1 over HTTP, for Blender and ``scail submit`` / ``scail jobs``.

It speaks the same contract as the in-process runner: a ``Job`` goes in, ``JobStatus``
snapshots come out. It uses ``requests`` because Blender bundles it, and imports no torch.
Every refusal of the server is raised as the typed error its code names (``InputError`` for a
bad file, ...) or as ``ServerError`` with the server's code and message.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests

from ..errors import ERROR_CLASSES, InputError, ServerError
from .contract import ExtractSettings, Job, name_problem, shown_name
from .loras import UPLOAD_FIELD, LoraSpec
from .references import character_mask_files, extra_reference_files
from .multipart import MultipartBody
from .status import JobStatus

log = logging.getLogger(__name__)

# Seconds to connect and between bytes; event streams send a keep-alive every 15 s.
TIMEOUT = (10.0, 60.0)
CHUNK = 1 << 20
# How long a follower keeps asking a server that went away (a restart takes seconds; a model
# reload on the first job after it, minutes, but the server answers during that).
FOLLOW_PATIENCE_S = 300.0
RETRY_MAX_S = 10.0
# The failures that mean "the server is away for now": its jobs are kept, so ask again.
RETRIED = ("unreachable", "stream_ended", "server_stopping")


class Patience:
    """Asking a server again that went away (a restart, a dropped connection), after 1, 2, 4 ... 10 s,
    until ``seconds`` have passed without an answer: the server keeps its jobs across restarts, so a
    client must not call a job lost that the server still has. One for each thing asked for."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: float | None = None
        self._tries = 0

    def answered(self) -> None:
        """The server answered: a later failure waits from the start again."""
        self._since, self._tries = None, 0

    def wait_after(self, exc: ServerError, what: str) -> bool:
        """Sleep before asking again after ``exc``; False (do not ask again) when it is not a failure
        of reaching the server, or when patience is spent."""
        now = time.monotonic()
        self._since = now if self._since is None else self._since
        if exc.code not in RETRIED or now - self._since >= self.seconds:
            return False
        log.info("%s: %s; asking again", what, exc)
        time.sleep(min(RETRY_MAX_S, 2.0 ** self._tries))
        self._tries += 1
        return True


class ScailClient:
    def __init__(self, url: str, token: str | None = None, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def submit(self, job: Job) -> JobStatus:
        """Upload the job's files and settings; the server checks them before it answers.

        LoRAs go by name, never by path (``upload_loras``): each of ``settings.loras`` names one of
        the server's LoRAs (``loras``), or is a file of this machine (in ``inputs.lora_files``, or
        its name is the path of a file here), uploaded with the job as ``lora_N`` (N: its place in
        the stack) and named by its file name."""
        i = job.inputs
        loras, uploads = upload_loras(job)
        paths = {"reference": i.reference_image, "pose": i.pose_video, "reference_mask": i.reference_mask,
                 "pose_mask": i.pose_mask, "reference_pose": i.reference_pose, **uploads, **extra_reference_files(i),
                 **character_mask_files(i)}
        settings = {**asdict(job.settings), "loras": [asdict(spec) for spec in loras]}
        form = {"prompt": i.prompt, "negative_prompt": i.negative_prompt, "settings": settings}
        return JobStatus.from_dict(self._upload("/v1/jobs", paths, "job", form).json())

    def extract(self, video: str | os.PathLike, align_ref: str | os.PathLike | None = None,
                settings: ExtractSettings | None = None) -> JobStatus:
        """Upload a driving video (and a reference image to align the camera to) for motion
        extraction; follow it like any job, and ``download`` its result as the motion .npz."""
        paths = {"video": video, "align_ref": align_ref}
        return JobStatus.from_dict(self._upload("/v1/extract", paths, "settings",
                                                asdict(settings or ExtractSettings())).json())

    def get(self, job_id: str) -> JobStatus:
        return JobStatus.from_dict(self._request("GET", f"/v1/jobs/{job_id}").json())

    def list(self, limit: int = 50, offset: int = 0) -> tuple[list[JobStatus], int]:
        """One page of jobs in submission order, and how many there are in all."""
        page = self.page(limit, offset)
        return [JobStatus.from_dict(job) for job in page["jobs"]], page["total"]

    def page(self, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """One page of jobs as the server shows them (``GET /v1/jobs``: status, prompt and settings)."""
        return self._request("GET", "/v1/jobs", params={"limit": limit, "offset": offset}).json()

    def events(self, job_id: str, patience: float = 0.0) -> Iterator[JobStatus]:
        """Every change of the job, from its current state to its final one (server-sent events).

        With ``patience`` (seconds), a dropped connection, a server that stops (its last event says
        so) or restarts is asked again (``Patience``). Each reconnection starts with the job's current
        state again.
        """
        retry = Patience(patience)
        while True:
            try:
                for status in self._event_stream(job_id):
                    retry.answered()
                    yield status
                    if status.final:
                        return
                raise ServerError(f"the event stream of job {job_id} ended before the job did; ask again "
                                  "(GET /v1/jobs/ID shows its state)", code="stream_ended")
            except ServerError as exc:
                if not retry.wait_after(exc, f"job {job_id}"):
                    raise

    def _event_stream(self, job_id: str) -> Iterator[JobStatus]:
        """The stream's ``job`` events; its ``stopping`` event (the server stops) is raised as the
        ServerError ``server_stopping``, which followers treat as a dropped connection."""
        with self._request("GET", f"/v1/jobs/{job_id}/events", stream=True) as response:
            event, data = "job", []
            try:
                for line in response.iter_lines(decode_unicode=True):
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line:  # the end of one event
                        if event == "stopping":
                            message = json.loads("\n".join(data) or "{}").get("message", "the server is stopping")
                            raise ServerError(str(message), code="server_stopping")
                        if event == "job" and data:
                            yield JobStatus.from_dict(json.loads("\n".join(data)))
                        event, data = "job", []
            except requests.RequestException as exc:
                raise ServerError(f"the connection to the job server at {self.url} broke while following job "
                                  f"{job_id} ({type(exc).__name__})", code="unreachable") from exc

    def wait(self, job_id: str, on_status: Callable[[JobStatus], None] | None = None,
             patience: float = FOLLOW_PATIENCE_S) -> JobStatus:
        """Follow the job's events until it ends (riding out a server restart); its final status."""
        status = None
        for status in self.events(job_id, patience):
            if on_status is not None:
                on_status(status)
        assert status is not None
        return status

    def download(self, job_id: str, path: str | os.PathLike, patience: float = FOLLOW_PATIENCE_S) -> Path:
        """Save the result (the mp4, or an extraction's motion .npz); the file appears under its
        name only once complete. A server that is away (restarting) is asked again as the event
        stream is (``Patience``), from the start of the file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        retry = Patience(patience)
        while True:
            try:
                return self._download(job_id, path)
            except ServerError as exc:
                if not retry.wait_after(exc, f"downloading job {job_id}"):
                    raise

    def _download(self, job_id: str, path: Path) -> Path:
        fd, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out, self._request("GET", f"/v1/jobs/{job_id}/result",
                                                           stream=True) as response:
                try:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
                except requests.RequestException as exc:
                    raise ServerError(f"the connection to the job server at {self.url} broke while downloading "
                                      f"job {job_id} ({type(exc).__name__})", code="unreachable") from exc
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp, 0o666 & ~umask)  # as a plain open() would have made it
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return path

    def cancel(self, job_id: str) -> JobStatus:
        return JobStatus.from_dict(self._request("POST", f"/v1/jobs/{job_id}/cancel").json())

    def delete(self, job_id: str) -> None:
        self._request("DELETE", f"/v1/jobs/{job_id}")

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/v1/health").json()

    def models(self) -> dict[str, Any]:
        return self._request("GET", "/v1/models").json()

    def loras(self) -> list[dict[str, Any]]:
        """The LoRAs a job may name in ``settings.loras``: ``{"name", "size"}`` each."""
        return self._request("GET", "/v1/loras").json()["loras"]

    def release(self) -> dict[str, Any]:
        return self._request("POST", "/v1/models/release").json()

    def _upload(self, path: str, files: dict[str, str | os.PathLike | None], field: str,
                value: dict[str, Any]) -> requests.Response:
        """POST the files (streamed from disk, never held whole) and one JSON field. File names the
        server would refuse (``jobs.name_problem``: hidden, or over 255 bytes) are refused here first."""
        for name, file in files.items():
            problem = None if file is None else name_problem(Path(file).name)
            if problem is not None:
                raise InputError(f"the {name} file's name {shown_name(Path(file).name)} {problem}; rename or copy "
                                 "the file (a job server takes plain file names)")
        with ExitStack() as stack:
            body = MultipartBody()
            for name, file in files.items():
                if file is not None:
                    body.add_file(name, Path(file).name, stack.enter_context(_open(str(file), name)))
            body.add_field(field, json.dumps(value), "application/json")
            return self._request("POST", path, data=body, headers={"Content-Type": body.content_type})

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, self.url + path, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise ServerError(f"cannot reach the job server at {self.url} ({type(exc).__name__}); check the URL "
                              "and that `scail serve` runs there", code="unreachable") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response


def _error(response: requests.Response) -> Exception:
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code = f"http_{response.status_code}"
        message = f"the server answered {response.status_code} {response.reason}: {response.text[:200]}"
    kind = ERROR_CLASSES.get(code)
    if kind is not None:
        return kind(message)
    return ServerError(message, code=code, status=response.status_code)


def _open(path: str, field: str):
    try:
        return open(path, "rb")  # closed by the caller's ExitStack
    except OSError as exc:
        raise InputError(f"cannot read the {field} file {path} ({exc.strerror}); check the path") from exc


def upload_loras(job: Job) -> tuple[list[LoraSpec], dict[str, str]]:
    """The stack as a server is sent it, and the files to upload (form field ``lora_N`` -> path).

    A LoRA with a file of this machine (``inputs.lora_files``, or a name that is a file here) is
    uploaded and named by its file's name; any other name must be a plain name (one of the
    server's LoRAs): a path is refused here, before anything is sent."""
    stack: list[LoraSpec] = []
    uploads: dict[str, str] = {}
    for index, spec in enumerate(job.settings.loras):
        file = job.inputs.lora_files.get(spec.name) or (spec.name if Path(spec.name).is_file() else None)
        name = spec.name if file is None or name_problem(spec.name) is None else Path(file).name
        if name_problem(name) is not None:
            raise InputError(f"LoRA {shown_name(name)} {name_problem(name)}: a job server takes the name of one of "
                             "the server's LoRAs (GET /v1/loras), or a file of yours uploaded with the job "
                             "(scail submit --lora FILE)")
        if file is not None:
            uploads[f"{UPLOAD_FIELD}{index}"] = file
        stack.append(LoraSpec(name=name, strength=spec.strength))
    return stack, uploads
