"""The gateway's own error answers, in the caller's API's shape."""

from __future__ import annotations

from typing import Mapping

from starlette.responses import Response

from .formats.dialect import Dialect


def error_response(
    dialect: Dialect, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        dialect.error_body(status, message),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
