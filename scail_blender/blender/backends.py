"""The backends this Blender session sends jobs to, and which one the preferences choose.

One ``InProcessBackend`` (one runner for every kind of job on this machine's device) and one
``ServerBackend`` per server address and token, made on first use and kept, so rows already
sent keep theirs when a preference changes. Everything that would only fail later (no checkpoint
folder, no torch, no online access) is refused when the backend is chosen, at the button.
"""

from __future__ import annotations

import atexit
import importlib.util
import threading
from typing import Any

import bpy

from ..errors import InputError
from ..jobs.backends import Backend, InProcessBackend, ServerBackend
from ..jobs.install import add_to_path
from ..jobs.local_server import is_loopback_url
from . import prefs

_backends: dict[tuple, Backend] = {}
_local_server: dict[str, Any] = {}


def require_online_access(url: str, what: str) -> None:
    """Blender's rule: no network but loopback unless the user allowed online access."""
    if not is_loopback_url(url) and not bpy.app.online_access:
        raise InputError(f"{what} needs the network ({url}) but Blender's online access is off: allow it in "
                         "Preferences > System > Network > Allow Online Access (or start Blender without "
                         "--offline-mode), or use a server on this machine (http://127.0.0.1:PORT)")


def chosen(context: bpy.types.Context, generate: bool) -> Backend:
    """The preferences' backend: Blender's own runner or the job server. Everything that would
    only fail later (no checkpoint folder, no torch, no online access) is refused here."""
    p = prefs.preferences(context)
    if p is not None and p.backend == "IN_PROCESS":
        return in_process(in_process_checkpoint(context) if generate else None)
    url = p.server_url if p is not None else "http://127.0.0.1:8188"
    require_online_access(url, "Generate" if generate else "Extract Motion from Video")
    return server(url, p.server_token if p is not None else None)


def in_process_checkpoint(context: bpy.types.Context) -> str:
    """The preferences' checkpoint folder, checked, with torch importable in Blender's Python."""
    checkpoint = str(prefs.checkpoint_folder(context))
    add_to_path(prefs.engine_site(create=False))
    if importlib.util.find_spec("torch") is None:
        raise InputError("torch is not importable in Blender's Python: press Install Engine in the add-on "
                         "preferences, or choose the Server backend and Start Local Server with a Python that has torch")
    return checkpoint


def in_process(checkpoint: str | None) -> InProcessBackend:
    """Blender's own runner (one for every kind of job), made on first use; ``checkpoint`` is
    the folder generations load (None: this job needs none, e.g. an extraction)."""
    backend = _backends.get(("in_process",))
    if backend is None:
        from ..engine import load_pipeline  # torch-free until the first generation loads the model

        backend = _backends[("in_process",)] = InProcessBackend(checkpoint, load_pipeline)
    elif checkpoint:
        backend.use_checkpoint(checkpoint)
    return backend


def server(url: str, token: str | None) -> ServerBackend:
    """The backend of one server address and token (a changed preference makes a new one; rows
    already sent keep theirs)."""
    key = ("server", url, token or "")
    backend = _backends.get(key)
    if backend is None:
        backend = _backends[key] = ServerBackend(url, token)
    return backend


def in_process_backend() -> InProcessBackend | None:
    """The in-process backend if one was made (Release Model acts on it)."""
    return _backends.get(("in_process",))


def local_server() -> Any:
    """The ``LocalServer`` Start Local Server made, or None."""
    return _local_server.get("server")


def set_local_server(process: Any) -> None:
    _local_server["server"] = process


def register() -> None:
    atexit.register(_stop_in_process, 10.0)


def unregister() -> None:
    """Stop everything this add-on started: the local server, the in-process runner."""
    process = _local_server.pop("server", None)
    if process is not None:
        process.stop()
    atexit.unregister(_stop_in_process)
    threading.Thread(target=_stop_in_process, daemon=True).start()  # never block Blender on a running step


def _stop_in_process(timeout: float | None = None) -> None:
    """Cancel the in-process jobs and end the worker thread (at quit, before the interpreter goes:
    a torch thread still alive then aborts the process)."""
    backend = _backends.pop(("in_process",), None)
    if backend is not None:
        backend.close(timeout)
