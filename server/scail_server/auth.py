"""Bearer-token check: every route but the docs when the server has a token."""

from __future__ import annotations

import hmac

from fastapi import Request

from .errors import ApiError


def require_token(request: Request) -> None:
    """FastAPI dependency; compares in constant time so the token cannot be guessed byte by byte."""
    token: str | None = request.app.state.settings.token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "this server needs its token: send 'Authorization: Bearer TOKEN' "
                       "(scail submit --token TOKEN)")
