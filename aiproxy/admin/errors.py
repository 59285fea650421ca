"""One error shape for the whole admin API: {"error": {"type": ..., "message": ...}}.

The console and scripts branch on `type`, people read `message`; neither
should ever see Starlette's plain-text pages or a traceback.
"""

from __future__ import annotations

import logging
from typing import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

logger = logging.getLogger("aiproxy.admin")

# The error type used when only a status is known (routing errors, bare HTTPExceptions).
DEFAULT_TYPES: dict[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    500: "internal_error",
    501: "not_implemented",
}


class ApiError(HTTPException):
    """An error the admin API answers on purpose.

    A subclass of Starlette's HTTPException so that, should one ever escape
    this app, the mounting app still turns it into the right status.
    """

    def __init__(
        self,
        status_code: int,
        error_type: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.error_type = error_type
        self.message = message


def error_response(
    status_code: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": error_type, "message": message}},
        status_code=status_code,
        headers=dict(headers) if headers else None,
    )


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, "not_found", f"{what} {ident} not found")


def _routing_message(request: Request, status_code: int, detail: str) -> str:
    # Starlette raises bare 404/405 from its router with "Not Found"-style
    # details; say which request it was, with the full (mounted) path.
    if status_code == 404:
        return f"no route for {request.method} {request.url.path}"
    if status_code == 405:
        return f"method {request.method} not allowed on {request.url.path}"
    return detail


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.error_type, exc.message, exc.headers)
    error_type = DEFAULT_TYPES.get(exc.status_code, "error")
    message = _routing_message(request, exc.status_code, str(exc.detail))
    return error_response(exc.status_code, error_type, message, exc.headers)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # The trace goes to the log, never to the client.
    logger.exception("admin API %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")
