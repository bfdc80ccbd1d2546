"""Who may use the server: the bearer token, and no requests made by web pages.

A browser lets any web page send a simple POST (multipart forms are one) to 127.0.0.1, and a
DNS-rebinding page can even read the answers; CORS alone does not stop either. So requests
that carry another site's ``Origin`` are refused, and a server bound to loopback only answers
to loopback host names.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import Request

from .errors import ApiError
from .settings import is_loopback


def require_token(request: Request) -> None:
    """FastAPI dependency; compares in constant time so the token cannot be guessed byte by byte."""
    token: str | None = request.app.state.settings.token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "this server needs its token: send 'Authorization: Bearer TOKEN' "
                       "(scail submit --token TOKEN)")


def refuse_web_pages(request: Request) -> None:
    """FastAPI dependency: the same-origin docs page may call the API, other sites may not."""
    host = request.headers.get("host", "")
    if is_loopback(request.app.state.settings.host) and not is_loopback(urlsplit(f"//{host}").hostname or ""):
        raise ApiError(403, "bad_host", f"this server is bound to loopback and answers to 127.0.0.1 or "
                       f"localhost, not {host!r}")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{host}":
        raise ApiError(403, "cross_origin", f"requests from web pages ({origin}) are refused; use scail submit, "
                       "Blender or another HTTP client")
