"""The API a client speaks, as far as the gateway's own answers go: its error shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import anthropic


@dataclass(frozen=True)
class Dialect:
    name: str
    # (status, message) -> response body in this API's error shape
    error_body: Callable[[int, str], bytes]
    # (status, message) -> bytes that tell a streaming client the stream failed
    stream_error: Callable[[int, str], bytes]


ANTHROPIC = Dialect("anthropic", anthropic.error_body, anthropic.stream_error_event)
