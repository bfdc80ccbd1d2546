"""`scail serve` started from Blender with a Python that has torch, and stopped again.

Blender's own Python rarely has torch; an interpreter chosen by the user (a venv with
``pip install 'scail-blender[server,engine]'``) runs the server as a child process on loopback,
and the add-on talks to it as to any server. The process is killed when Blender quits or the
add-on is disabled, so no GPU stays held by a forgotten server.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

from ..errors import InputError, ServerError
from .client import ScailClient

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def is_loopback_url(url: str) -> bool:
    """True for URLs only this machine answers (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(python: str, checkpoint: str, url: str, data_dir: Path) -> list[str]:
    if not is_loopback_url(url):
        raise InputError(f"Start Local Server runs on this machine only, but the server URL is {url}: "
                         "set the URL to http://127.0.0.1:PORT in the add-on preferences")
    port = urlparse(url).port or 8188
    return [python, "-m", "scail_blender.cli", "serve", "--checkpoint", checkpoint, "--host", "127.0.0.1",
            "--port", str(port), "--data-dir", str(data_dir)]


class LocalServer:
    def __init__(self, command: list[str], log_file: Path) -> None:
        if not Path(command[0]).is_file():
            raise InputError(f"The Python with torch {command[0]!r} does not exist: choose the python executable "
                             "of an environment with `pip install 'scail-blender[server,engine]'` in the preferences")
        self.command = command
        self.log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
        with open(log_file, "wb") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        atexit.register(self.stop)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_healthy(self, url: str, timeout: float = 120.0) -> None:
        """Poll ``/v1/health`` until it answers; ServerError with the log's last line otherwise."""
        client = ScailClient(url)
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise ServerError(f"the local server exited ({self.proc.returncode}): {self._last_line()}; "
                                  f"full log in {self.log_file}", code="server_exited")
            try:
                client.health()
                return
            except ServerError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(f"the local server did not answer within {timeout:.0f} s: "
                                      f"{self._last_line()}; full log in {self.log_file}", code="unreachable") from exc
                time.sleep(0.3)

    def stop(self) -> None:
        if self.running:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        atexit.unregister(self.stop)

    def _last_line(self) -> str:
        lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else "no output"
