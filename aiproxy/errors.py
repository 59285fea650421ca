"""The gateway's own error answers, in the caller's API's shape."""

from __future__ import annotations

from typing import Mapping

import orjson
from starlette.responses import Response

from .formats.dialect import ANTHROPIC, GEMINI, OPENAI, Dialect

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


# Which client API a path's first segment names (the routes create_app mounts),
# for answers given before or without routing: an unmatched path, and the
# server's own refusals of a request head (aiproxy.server_limits).
_PREFIX_DIALECTS: tuple[tuple[str, Dialect], ...] = (
    ("/claude", ANTHROPIC),
    ("/gemini", GEMINI),
    ("/openai", OPENAI),
    ("/responses", OPENAI),
    ("/v1", OPENAI),
)


def dialect_for_path(path: str) -> Dialect | None:
    for prefix, dialect in _PREFIX_DIALECTS:
        if path == prefix or path.startswith(prefix + "/"):
            return dialect
    return None


def error_body_for_path(path: str, status: int, message: str) -> bytes:
    """An error body in the shape of the API `path` belongs to; elsewhere (admin,
    health, unknown) the admin API's `{"error": {"type", "message"}}`."""
    dialect = dialect_for_path(path)
    if dialect is not None:
        return dialect.error_body(status, message)
    return orjson.dumps({"error": {"type": _GENERIC_TYPES.get(status, "error"), "message": message}})


_GENERIC_TYPES = {404: "not_found", 408: "request_timeout", 431: "request_header_fields_too_large", 503: "unavailable"}
