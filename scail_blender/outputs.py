"""One output policy for every command and operator that writes files.

Nothing a user owns may be lost to a run. ``check_outputs`` is called before any work starts,
with every input and output of the run, and refuses what would destroy or hide something:

- an output that is one of the run's inputs, or another output of the same run (real paths,
  so symlinks, ``..`` and hard links are seen through);
- an existing target that is not a regular file (a folder, a device, a socket, a pipe);
- a folder that cannot be created or written, and a disk without room for the estimate;
- a frames folder that already holds numbered frames (``00000.png``...), unless the run says
  ``overwrite``: then only the frames this run writes are replaced, nothing else is touched.

Files are written under a hidden temporary name beside their target and renamed into place at
the end (``atomic_file``, ``commit``), and the rename refuses a target that turned into a
non-regular file meanwhile. Folders a run creates are removed again when it fails.
``signals_as_interrupts`` turns SIGTERM into an exception, so a terminated run unwinds and
cleans up exactly like one interrupted with Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

FRAME_GLOB = "[0-9][0-9][0-9][0-9][0-9].png"
FRAME_NAME = "{:05d}.png"

PathLike = str | os.PathLike


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that every clean-up runs as for Ctrl-C."""


@dataclass(frozen=True)
class CheckedOutputs:
    """What ``check_outputs`` found: the resolved targets, and numbered frames already there."""

    files: dict[str, Path]
    frames: dict[str, Path]
    existing_frames: dict[str, list[str]]


def real_path(path: PathLike) -> Path:
    """The absolute path with ``~``, ``..`` and symlinks resolved (the file that gets written)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def check_outputs(files: Mapping[str, PathLike | None], *, inputs: Mapping[str, PathLike | None] | None = None,
                  frames: Mapping[str, PathLike | None] | None = None, overwrite: bool = False,
                  need_bytes: int = 0) -> CheckedOutputs:
    """Refuse, before any work, every output that would destroy or hide a file (see the module).

    Keys are what the user calls each path (``--out``, ``--joints-out``...), for the messages.
    """
    files = {k: real_path(v) for k, v in files.items() if v}
    frames = {k: real_path(v) for k, v in (frames or {}).items() if v}
    inputs = {k: real_path(v) for k, v in (inputs or {}).items() if v}
    named = [*files.items(), *frames.items()]
    for index, (name, path) in enumerate(named):
        for other, known in [*inputs.items(), *named[:index]]:
            if _same(path, known):
                role = "an input" if other in inputs else "another output"
                raise InputError(f"{name} {path} is also {other}, {role} of this run: writing it would "
                                 f"destroy that file; give {name} another path")
    for name, path in files.items():
        _check_file_target(name, path)
    existing: dict[str, list[str]] = {}
    for name, folder in frames.items():
        existing[name] = _check_frames_folder(name, folder, overwrite)
    for name, path in named:
        _check_writable(name, path.parent if name in files else folder_or_parent(path))
    if need_bytes and named:
        check_space(named[0][1], need_bytes)
    return CheckedOutputs(files, frames, existing)


def folder_or_parent(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISFIFO, "a named pipe")):
        if test(mode):
            return name
    return "not a regular file"


def _check_file_target(name: str, path: Path) -> None:
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # the folder check says what is wrong
        return
    except OSError as exc:
        raise InputError(f"{name} {path} cannot be checked ({exc.strerror}); give another path") from exc
    if not stat.S_ISREG(mode):
        raise InputError(f"{name} {path} is {_kind(mode)}, which is never replaced; give the path of a file "
                         "to write (an existing file is replaced only when the run succeeds)")


def _check_frames_folder(name: str, folder: Path, overwrite: bool) -> list[str]:
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise InputError(f"{name} {folder} exists and is not a folder; give a folder for the numbered frames")
    ours = sorted(p.name for p in folder.glob(FRAME_GLOB))
    if ours and not overwrite:
        raise InputError(f"{name} {folder} already holds {len(ours)} numbered frames ({ours[0]}...); give an "
                         "empty or new folder, or add --overwrite to replace the frames this run writes "
                         "(other files are never touched)")
    return ours


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable(name: str, folder: Path) -> None:
    """Writable means a file can be made there: a probe file in the nearest existing folder
    (permission bits alone say nothing to root, nor about read-only or virtual file systems)."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise InputError(f"{name}: {existing} is a file, so the folder {folder} cannot be made; choose another folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        where = f"{folder}" if existing == folder else f"{existing} (where {folder} would be made)"
        raise InputError(f"{name}: the folder {where} is not writable ({exc.strerror}); choose a writable folder") from None


def check_space(path: Path, need_bytes: int) -> None:
    """Refuse a run whose outputs (estimated at ``need_bytes``) do not fit beside ``path``."""
    existing = _nearest_existing(path.parent)
    free = shutil.disk_usage(existing).free
    if free < need_bytes:
        raise InputError(f"the outputs need about {need_bytes / 1e6:.0f} MB but {existing} has {free / 1e6:.0f} MB "
                         "free; free some space or write elsewhere")


def make_folder(folder: Path, what: str = "output") -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created, to remove on failure."""
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_folders(missing)
        raise InputError(f"cannot create the {what} folder {folder} ({exc.strerror}); choose a writable folder") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"the {what} folder {folder} is not writable; choose a writable folder")
    return missing


def remove_folders(created: list[Path]) -> None:
    """Remove folders ``make_folder`` created (deepest first), if they are still empty."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


def temp_sibling(path: Path, suffix: str | None = None) -> Path:
    """A hidden temporary file next to ``path``, with the permissions a plain open() would give."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix if suffix is None else suffix,
                                dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    return Path(name)


def commit(temp: Path, target: Path) -> None:
    """Rename a finished temporary file onto ``target``; never onto a folder, device or socket."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        temp.unlink(missing_ok=True)
        raise InputError(f"{target} is {_kind(mode)}, which is never replaced; choose another file name")
    try:
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise InputError(f"could not put the file at {target} ({exc.strerror}); choose another file name") from exc


@contextmanager
def atomic_file(target: PathLike, what: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it becomes ``target`` only if the block succeeds."""
    target = real_path(target)
    created = make_folder(target.parent, what)
    temp = temp_sibling(target)
    try:
        yield temp
        commit(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        remove_folders(created)
        raise


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``Terminated`` (a KeyboardInterrupt) like Ctrl-C does."""
    def terminate(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: the caller handles signals itself
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
