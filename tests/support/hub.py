"""A local stand-in for the Hugging Face hub on 127.0.0.1: files served in the hub's URL layout.

The real hub is not reachable from the tests. huggingface_hub only needs what this serves:
``HEAD`` and ``GET`` on ``/{owner}/{repo}/resolve/{revision}/{path}`` answering with ``ETag``,
``X-Repo-Commit`` and ``Content-Length``, and ``Range: bytes=N-`` answered with 206 and
``Content-Range`` (how it resumes a partial file). ``cut_after`` makes the next GET drop the
connection after that many bytes and every later request fail with 503 until ``down`` is set
False again (an interrupted transfer, then no network); ``gated`` repos answer 401 without the
right bearer token; ``requests`` records (method, path, Range header) of each request.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class LocalHub:
    def __init__(self, files: dict[str, bytes], gated: dict[str, str] | None = None) -> None:
        """``files``: "owner/repo/path/in/repo" -> content; ``gated``: "owner/repo" -> token."""
        self.files = files
        self.gated = gated or {}
        self.cut_after: int | None = None
        self.down = False
        self.requests: list[tuple[str, str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path, self.headers.get("Range", "")))
                if hub.down:
                    return self._fail(503, "Unavailable")
                parts = unquote(self.path.split("?")[0]).lstrip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._fail(404, "RepoNotFound")
                repo, key = "/".join(parts[:2]), "/".join(parts[:2] + parts[4:])
                token = hub.gated.get(repo)
                if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
                    return self._fail(401, "GatedRepo")
                if key not in hub.files:
                    return self._fail(404, "EntryNotFound")
                data = hub.files[key]
                start = 0
                ranged = self.headers.get("Range", "")
                if ranged.startswith("bytes="):
                    start = int(ranged[6:].split("-")[0])
                self.send_response(206 if start else 200)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                chunk = data[start:]
                if hub.cut_after is not None:
                    self.wfile.write(chunk[:hub.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    hub.down = True  # the network goes away after the cut
                    return
                self.wfile.write(chunk)

            def _fail(self, status: int, code: str) -> None:
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
