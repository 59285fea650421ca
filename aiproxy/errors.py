"""The gateway's own error answers, in the caller's API's shape."""

from __future__ import annotations

from typing import Mapping

from starlette.responses import Response

from .formats.dialect import Dialect


# Answers that the same request will get again, however often it is retried.
# The official SDKs (and Claude Code) honour `x-should-retry: false`; without
# it Claude Code retries a 401 for minutes before telling the user.
_FINAL = frozenset({400, 401, 403, 404, 405, 413})


def error_response(
    dialect: Dialect, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    all_headers = dict(headers or {})
    if status in _FINAL:
        all_headers.setdefault("x-should-retry", "false")
    return Response(
        dialect.error_body(status, message),
        status_code=status,
        media_type="application/json",
        headers=all_headers,
    )
