"""The message an upstream put in its error answer, whatever its API's shape.

Anthropic and OpenAI put it in `error.message`, Google in `error.message` too
(Code Assist in a list of such objects), some OpenAI-compatible servers send
`error` as a string, and the ChatGPT Codex backend answers `{"detail": ...}`.
One reader for all of them: the account test shows it, the bridges pass it on
in the client's own error shape.
"""

from __future__ import annotations

from typing import Any

import orjson


def error_message(body: bytes) -> str | None:
    """The upstream's own message in an error body; None when it names none."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
        return str(error["message"])
    for value in (error, data.get("detail"), data.get("message")):
        if isinstance(value, str) and value:
            return value
    return None
