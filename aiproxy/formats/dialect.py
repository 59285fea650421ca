"""The API a client speaks, as far as the gateway's own answers go: its error shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import anthropic, gemini, openai_chat


@dataclass(frozen=True)
class Dialect:
    name: str
    # (status, message) -> response body in this API's error shape
    error_body: Callable[[int, str], bytes]
    # (status, message) -> bytes that tell a streaming client the stream failed
    stream_error: Callable[[int, str], bytes]
    # The model named in the URL path, for APIs that put it there (Gemini).
    model_from_path: Callable[[str], str | None] | None = None

    def requested_model(self, path: str, body_model: str | None) -> str | None:
        # Where the path names the model (Gemini), it wins: a body's `model`
        # must never choose the upstream path (issue 10).
        if self.model_from_path is not None:
            from_path = self.model_from_path(path)
            if from_path:
                return from_path
        return body_model or None


ANTHROPIC = Dialect("anthropic", anthropic.error_body, anthropic.stream_error_event)
# Chat Completions and Responses share one error shape.
OPENAI = Dialect("openai", openai_chat.error_body, openai_chat.stream_error)
GEMINI = Dialect("gemini", gemini.error_body, gemini.stream_error, gemini.model_from_path)
