"""Every error leaves the server as ``{"error": {"code": ..., "message": ...}}``.

Codes are stable (clients branch on them, never on messages): the ``code`` of the typed errors in
``scail_blender.errors`` for bad jobs and files (400; ``over_limit``, a job larger than a limit
allows, 422), and the few below for the HTTP layer.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from scail_blender.errors import OverLimit, ScailError

log = logging.getLogger(__name__)

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"},
                                                             "message": {"type": "string"}}}},
}


class ApiError(Exception):
    """A refused request: HTTP status, stable code and a message that says what to do."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(job_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no job {job_id!r} on this server; list them with GET /v1/jobs")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(ScailError)
    async def scail_error(_: Request, exc: ScailError) -> JSONResponse:
        return error_response(422 if isinstance(exc, OverLimit) else 400, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal", f"internal error ({type(exc).__name__}); see the server log")
