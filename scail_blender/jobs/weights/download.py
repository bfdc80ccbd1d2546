"""Getting a setup's missing files from the hub with huggingface_hub: sizes first, disk space, resume.

``plan`` says for every file of a setup whether the models folder already has it: the file itself
at its place, or (for the single-file setups) another file of the same role found by its header
(any umT5, VAE, tokenizer or CLIP serves; a DiT only as the same file). ``get`` then asks the hub for the missing files' sizes
(a wrong name or a gated repo fails here, before any byte), checks the disk has room for them,
and downloads them one by one into a staging folder inside the models folder
(``.scail-download/``); a finished file is moved to its place in the same file system.
huggingface_hub builds the URLs and the token header and asks the hub for each file's size, ETag
and location (mapping gated repositories and missing files to its errors); the bytes are fetched
with Range requests of our own, because huggingface_hub 2.x deletes a partial file when a
download fails, and a 33 GB file must resume after Ctrl-C, a cancel in Blender or a lost network,
not start over. A partial file is named after the file's ETag, so a file changed on the hub starts
afresh. Progress is reported in MB with the rate and the time left; ``cancel`` stops within one
chunk (1 MB) and keeps the partial file for the next run.

huggingface_hub reads ``HF_ENDPOINT`` (a mirror, or the tests' local server), ``HF_TOKEN`` and
``HF_HUB_OFFLINE`` itself; a token given here wins over ``HF_TOKEN``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ...errors import ScailError
from ...progress import Progress, ProgressCallback, check_cancel, no_progress
from .finder import ModelsFolder, scan
from .setups import RemoteFile, Setup

STAGING = ".scail-download"
CHUNK = 2**20
RETRIES = 3  # a dropped connection is resumed this many times within one run
SPARE_BYTES = 256 * 2**20  # left free after the downloads: a full disk breaks more than this download


class DownloadError(ScailError):
    """The hub could not be reached, refused the request or lacks a file; or the disk is too small."""

    code = "download"


@dataclass(frozen=True)
class Planned:
    file: RemoteFile
    dest: Path
    present: str = ""  # how the folder already has it ("" = missing)


def plan(chosen: Setup, models_dir: str | Path, found: ModelsFolder | None = None) -> list[Planned]:
    """Each file of ``chosen`` with its place under ``models_dir`` and whether it is already there."""
    root = Path(models_dir).expanduser()
    if found is None:
        found = scan(root) if root.is_dir() else ModelsFolder(root)
    planned = []
    for f in chosen.files:
        dest = root / f.dest
        present = ""
        if dest.is_file() and (not f.exact or dest.stat().st_size == f.size):
            present = "present"
        elif f.role != "dit" and chosen.substitutes:
            other = next(iter(found.usable(f.role)), None)
            if other is not None:
                present = f"served by {found.relative(other.path)}"
        planned.append(Planned(f, dest, present))
    return planned


def listing(chosen: Setup, planned: list[Planned] | None) -> str:
    """The setup's files with sizes, and (with a plan) which are present and what is left to get."""
    lines = [f"{chosen.name}: {chosen.summary}"]
    for i, f in enumerate(chosen.files):
        size = _size(f.size, f.exact)
        note = "" if f.verified else "  (name not verified on the hub)"
        state = ""
        if planned is not None:
            state = f"  [{planned[i].present or 'missing'}]"
        lines.append(f"  {f.role:9} {size:>10}  {f.url_name} -> {f.dest}{state}{note}")
    if planned is not None:
        missing = [p for p in planned if not p.present]
        total = sum(p.file.size for p in missing)
        lines.append(f"  to download: {len(missing)} files, {_size(total, all(p.file.exact for p in missing))}"
                     if missing else "  everything is present")
    else:
        lines.append(f"  total {_size(chosen.size, False)}")
    return "\n".join(lines)


def get(chosen: Setup, models_dir: str | Path, token: str | None = None, endpoint: str | None = None,
        on_progress: ProgressCallback = no_progress, cancel: threading.Event | None = None) -> list[Path]:
    """Download the files of ``chosen`` the folder lacks; the paths written. DownloadError when
    the hub cannot be reached or refuses, or the disk is too small; Cancelled on ``cancel``."""
    hub = _hub()
    root = Path(models_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    missing = [p for p in plan(chosen, root) if not p.present]
    if not missing:
        return []
    remote = [_metadata(hub, p.file, token, endpoint) for p in missing]
    parts = [_part_file(root, p.file, meta) for p, meta in zip(missing, remote)]
    have = sum(part.stat().st_size for part in parts if part.is_file())
    total = sum(meta.size for meta in remote)
    _check_space(root, total - have)
    meter = _Meter(total, on_progress, cancel)
    headers = hub.utils.build_hf_headers(token=token)
    where = endpoint or hub.constants.ENDPOINT
    written = []
    for planned, meta, part in zip(missing, remote, parts):
        check_cancel(cancel)
        meter.start(planned.file, meta.size)
        same_host = urlsplit(meta.location).netloc == urlsplit(where).netloc
        sent = headers if same_host else {k: v for k, v in headers.items() if k.lower() != "authorization"}
        _fetch(meta.location, sent, part, meta.size, meter, planned.file, where)
        planned.dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, planned.dest)
        meter.finish()
        written.append(planned.dest)
    on_progress(Progress("done", 1, 1, f"downloaded {len(written)} files into {root}"))
    return written


def _hub():
    try:
        import huggingface_hub
    except ImportError as exc:
        raise DownloadError("downloading needs the huggingface_hub package: pip install huggingface_hub "
                            "(in Blender: press Install Engine in the add-on preferences)") from exc
    return huggingface_hub


def _metadata(hub, f: RemoteFile, token: str | None, endpoint: str | None):
    """The hub's answer for one file (size, ETag, download location): a wrong name or a gated
    repository fails here, before any byte is downloaded."""
    url = hub.hf_hub_url(f.repo, f.path, endpoint=endpoint)
    try:
        meta = hub.get_hf_file_metadata(url, token=token, endpoint=endpoint)
    except Exception as exc:  # huggingface_hub's and httpx's errors, named for the user
        raise _explain(hub, exc, None, f, endpoint) from exc
    if not meta.size:
        raise DownloadError(f"{f.url_name}: the server at {endpoint or hub.constants.ENDPOINT} did not say the "
                            "file's size; is HF_ENDPOINT a Hugging Face hub or mirror?")
    return meta


def _part_file(root: Path, f: RemoteFile, meta) -> Path:
    """Where the partial download lives: named after the file's ETag, so a changed file on the hub
    starts over instead of resuming into the old one."""
    tag = "".join(c for c in (meta.etag or "") if c.isalnum())[:16] or "noetag"
    return root / STAGING / f"{f.repo.replace('/', '--')}--{tag}--{Path(f.path).name}.part"


def _fetch(url: str, headers: dict[str, str], part: Path, size: int, meter: _Meter, f: RemoteFile, where: str) -> None:
    """Bring ``part`` to ``size`` bytes with Range requests, resuming what is there; a dropped
    connection is retried (resuming) a few times before it is an error."""
    import requests

    part.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(RETRIES + 1):
        have = part.stat().st_size if part.is_file() else 0
        if have > size:  # not this file after all
            part.unlink()
            have = 0
        if have == size:
            return
        meter.seen(have)
        try:
            with requests.get(url, headers={**headers, "Range": f"bytes={have}-"} if have else headers, stream=True,
                              timeout=(10, 60)) as response:
                if response.status_code >= 400:
                    raise _explain(None, None, response.status_code, f, where)
                if have and response.status_code != 206:  # the server ignored Range: start over
                    have = 0
                with part.open("ab" if have else "wb") as out:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
                        have += len(chunk)
                        meter.seen(have)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            if attempt == RETRIES:
                raise DownloadError(f"could not download {f.url_name} from {where} ({type(exc).__name__}: {exc}); "
                                    "check the network (or HF_ENDPOINT), then run the same command again: finished "
                                    f"files stay and this one resumes from {_size(have, True)}") from exc
            time.sleep(min(2 ** attempt, 10))
    if part.stat().st_size != size:
        raise DownloadError(f"{f.url_name} arrived with {part.stat().st_size} bytes instead of {size}; run the "
                            "same command again to resume")


def _check_space(root: Path, need: int) -> None:
    free = shutil.disk_usage(root).free
    if need + SPARE_BYTES > free:
        raise DownloadError(f"the missing files need {_size(need, True)} more but {root} has {_size(free, True)} free "
                            f"(and {_size(SPARE_BYTES, True)} should stay free): free some space or choose another "
                            "models folder")


def _explain(hub, exc: Exception | None, status: int | None, f: RemoteFile, where: str | None) -> DownloadError:
    """A message that says what to do, for the hub's errors (by class or HTTP status) and no network."""
    errors = hub.errors if hub is not None else None
    where = where or (hub.constants.ENDPOINT if hub is not None else "the hub")
    status = status or getattr(getattr(exc, "response", None), "status_code", None)
    if (errors is not None and isinstance(exc, errors.GatedRepoError)) or status in (401, 403):
        return DownloadError(f"{f.repo} needs a Hugging Face token that accepted its licence: accept it on "
                             f"https://huggingface.co/{f.repo}, then pass --token or set HF_TOKEN")
    if (errors is not None and isinstance(exc, errors.RepositoryNotFoundError | errors.EntryNotFoundError)) or status == 404:
        unverified = "" if f.verified else " (this name was not verified on the hub)"
        return DownloadError(f"{f.url_name} is not on {where}{unverified}: the repository may have moved or "
                             "renamed the file; download it by hand and put it into the models folder")
    if errors is not None and isinstance(exc, errors.OfflineModeIsEnabled):
        return DownloadError("HF_HUB_OFFLINE is set, so nothing can be downloaded: unset it, or copy the files "
                             "into the models folder by hand (scail models list shows which)")
    detail = f"{type(exc).__name__}: {exc}" if exc is not None else f"HTTP {status}"
    return DownloadError(f"could not reach {where} for {f.url_name} ({detail}); check the network (or HF_ENDPOINT), "
                         "then run the same command again: finished files stay and a partial one resumes")


class _Meter:
    """Bytes over the whole setup: MB done of MB total, the rate, and the time left."""

    def __init__(self, total: int, report: ProgressCallback, cancel: threading.Event | None) -> None:
        self.total, self.report, self.cancel = max(total, 1), report, cancel
        self.done = 0  # bytes of finished files
        self.current = 0  # bytes of the file being downloaded (resumed bytes included)
        self.size = 0
        self.name = ""
        self.started = time.monotonic()
        self.first: int | None = None  # bytes already there when this run started (resumed)

    def start(self, f: RemoteFile, size: int) -> None:
        self.name, self.size, self.current = Path(f.path).name, size, 0

    def finish(self) -> None:
        self.done += self.size
        self.current = 0

    def seen(self, n: int) -> None:
        """``n`` bytes of the current file are on disk; raises Cancelled when asked to stop."""
        check_cancel(self.cancel)
        self.current = n
        if self.first is None:
            self.first = self.done + n
            self.started = time.monotonic()
        now = self.done + n
        fetched = now - self.first
        seconds = time.monotonic() - self.started
        rate = fetched / seconds if seconds > 0.5 and fetched > 0 else 0.0
        eta = f", {_duration((self.total - now) / rate)} left" if rate else ""
        message = f"{self.name}: {now / 2**20:.0f} of {self.total / 2**20:.0f} MB" + (
            f", {rate / 2**20:.1f} MB/s{eta}" if rate else "")
        self.report(Progress("download", min(now, self.total) // 2**20, max(self.total // 2**20, 1), message))


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60:02d}s" if seconds < 3600 else \
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _size(size: int, exact: bool) -> str:
    if not size:
        return "size ?"
    text = f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size} bytes"
    return text if exact else f"~{text}"
