"""The one reader of an upstream's error message, for every API's shape."""

from __future__ import annotations

import pytest

from aiproxy.formats.error_message import error_message


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}', "slow down"),  # Anthropic
        (b'{"error":{"message":"bad key","type":"invalid_request_error","code":null}}', "bad key"),  # OpenAI
        (b'{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}', "quota"),  # Google
        (b'[{"error":{"code":403,"message":"no project"}}]', "no project"),  # Code Assist's list
        (b'{"detail":"Unsupported parameter: temperature"}', "Unsupported parameter: temperature"),  # Codex
        (b'{"error":"model not found"}', "model not found"),  # OpenAI-compatible servers
        (b'{"message":"overloaded"}', "overloaded"),
        (b'{"error":{"message":""},"detail":"the reason"}', "the reason"),
        (b"<html>Bad gateway</html>", None),
        (b"", None),
        (b'{"error":1}', None),
        (b"[]", None),
    ],
)
def test_error_message(body: bytes, expected: str | None) -> None:
    assert error_message(body) == expected
