"""Multipart uploads streamed straight into the data folder, under names the server chooses.

Starlette's form parser would spool every file to the system temp folder before the route saw
a byte, so the size limit and the disk check could only come after the whole upload; this
parser writes each part into the job's upload folder as it arrives and stops the moment the
body passes the limit. Client file names are checked (a name with a folder in it or over 255
bytes is refused, as a sign of a confused client: the rule of ``jobs.name_problem``) and
otherwise ignored: files are stored as ``reference``, ``pose``, ``reference_mask``, ``pose_mask``
and ``lora_0`` ... ``lora_7`` (the stack's LoRAs), the SCAIL-2 extra references in pairs, ``extra_reference_K``
and ``extra_reference_mask_K`` from K = 0, MultiAnimate's ``reference_pose`` and ``character_mask_K`` from
K = 0 in identity order (an extraction: ``video`` and ``align_ref``). Every field comes once: a second file
or JSON field is refused rather than one silently winning. A client that hangs up mid-upload is
one log line; the route removes what it had sent.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import (
    MultipartParseError,
    MultipartParser,
    parse_options_header,
)
from starlette.requests import ClientDisconnect, Request

from scail_blender.jobs.contract import MAX_NAME_BYTES, name_problem, shown_name
from scail_blender.jobs.references import CHARACTER_MASK_FIELDS, EXTRA_FILE_FIELDS

from .errors import ApiError
from .loras import UPLOAD_FIELDS

log = logging.getLogger(__name__)

FILE_FIELDS = ("reference", "pose", "reference_mask", "pose_mask", "reference_pose", *UPLOAD_FIELDS, *EXTRA_FILE_FIELDS,
               *CHARACTER_MASK_FIELDS)
JOB_FIELD = "job"
EXTRACT_FILE_FIELDS = ("video", "align_ref")
EXTRACT_FIELD = "settings"
MAX_JOB_JSON = 64 * 1024
# The longest header line of one part: a Content-Disposition with a 255-byte file name fits.
MAX_PART_HEADER = 4096


@dataclass
class Upload:
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    job_json: bytes = b""


class _Parts:
    """The parser's callbacks: one part at a time, into a file or into the job field."""

    def __init__(self, upload: Upload, files: tuple[str, ...], json_field: str) -> None:
        self.upload = upload
        self.files = files
        self.json_field = json_field
        self.headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self.name = ""
        self.file: BinaryIO | None = None
        self.text: bytearray | None = None
        self.json_seen = False

    def callbacks(self) -> dict:
        return {"on_part_begin": self.begin, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.data, "on_part_end": self.end}

    def begin(self) -> None:
        self.headers, self.file, self.text = {}, None, None

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def header_end(self) -> None:
        self.headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if name in self.files:
            if filename is None:
                raise ApiError(400, "invalid_upload", f"'{name}' must be sent as a file")
            _check_filename(filename.decode("utf-8", "replace"))
            if name in self.upload.files:
                raise ApiError(400, "invalid_upload", f"'{name}' was sent twice; send each file once")
            path = self.upload.folder / name
            self.upload.files[name] = path
            self.file = open(path, "wb")  # noqa: SIM115 - closed in end()
        elif name == self.json_field:
            if self.json_seen:
                raise ApiError(400, "invalid_upload", f"the '{name}' field was sent twice; send it once")
            self.text = bytearray()
            self.json_seen = True
        else:
            raise ApiError(400, "invalid_upload", f"unknown form field {name!r}; send {', '.join(self.files)} "
                           f"as files and '{self.json_field}' as JSON")
        self.name = name

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.file is not None:
            self.file.write(data[start:end])
        elif self.text is not None:
            self.text += data[start:end]
            if len(self.text) > MAX_JOB_JSON:
                raise ApiError(413, "too_large", f"the '{self.json_field}' field is over {MAX_JOB_JSON // 1024} KB")

    def end(self) -> None:
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None
        elif self.text is not None:
            self.upload.job_json = bytes(self.text)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _check_filename(name: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise ApiError(400, "invalid_filename", f"file name {shown_name(name)} {problem}; send a plain name like "
                       "pose.mp4 (the server picks its own names anyway)")


async def receive_upload(request: Request, folder: Path, limit: int, free_bytes: int, reserve: int,
                         files: tuple[str, ...] = FILE_FIELDS, json_field: str = JOB_FIELD) -> Upload:
    """Stream the multipart body of ``request`` into ``folder``; refuse it past ``limit`` bytes
    or when it would leave less than ``reserve`` bytes of ``free_bytes`` on the disk. ``files``
    are the file fields allowed, ``json_field`` the one JSON field (kept in ``job_json``)."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(415, "invalid_upload", f"send the job as multipart/form-data (files {', '.join(files)}, "
                       f"field {json_field})")
    declared = request.headers.get("content-length")
    expected = int(declared) if declared and declared.isdigit() else limit
    if expected > limit:
        raise ApiError(413, "too_large", f"the upload is {expected / 2**20:.0f} MB; this server takes at most "
                       f"{limit // 2**20} MB per job (scail serve --max-upload-mb)")
    if free_bytes - expected < reserve:
        raise ApiError(507, "no_space", f"the server's disk has {free_bytes / 2**20:.0f} MB free, too little for "
                       f"this upload and the {reserve // 2**20} MB it keeps free (scail serve --min-free-space); "
                       "delete old jobs (DELETE /v1/jobs/ID) or free disk space")
    upload = Upload(folder)
    parts = _Parts(upload, files, json_field)
    parser = MultipartParser(options[b"boundary"], parts.callbacks(), max_header_size=MAX_PART_HEADER)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise ApiError(413, "too_large", f"the upload is over {limit // 2**20} MB, the most this server "
                               "takes per job (scail serve --max-upload-mb)")
            parser.write(chunk)
        parser.finalize()
    except ClientDisconnect:
        log.warning("an upload to %s stopped: the client disconnected after %d bytes", request.url.path, received)
        raise ApiError(400, "client_disconnected", "the client disconnected in the middle of the upload") from None
    except MultipartParseError as exc:
        if str(exc).startswith("Maximum header size"):  # python-multipart's words for max_header_size
            raise ApiError(400, "header_too_large", f"a part header of the upload is over {MAX_PART_HEADER} "
                           f"bytes; file names may have at most {MAX_NAME_BYTES} bytes (the server picks its own "
                           "names anyway)") from None
        raise ApiError(400, "invalid_upload", f"the multipart body is malformed ({exc})") from None
    finally:
        parts.close()
    return upload
