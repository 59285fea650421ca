"""Server-Sent Events, read incrementally: feed bytes as they arrive, get whole events.

`SSEFramer` keeps each event as its raw bytes (for taps that drop an event and
pass every other byte on unchanged); `SSEParser` decodes them. Chunks may split
anywhere (mid-line, between \\r and \\n, inside a UTF-8 sequence), so a line is
only judged, and nothing decoded, once it is whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

_BLANK = (b"\n", b"\r\n", b"\r")


class SSEFramer:
    def __init__(self) -> None:
        self._pending = b""  # an unterminated line, or one ending in a bare \r
        self._lines: list[bytes] = []  # the lines of the event being read

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events this chunk completes, each with its lines and its closing blank line."""
        buf = self._pending + chunk if self._pending else chunk
        lines = buf.splitlines(keepends=True)
        # A line ending in \r may be a \r\n split across chunks: hold it for the next byte.
        if lines and (not lines[-1].endswith((b"\n", b"\r")) or lines[-1].endswith(b"\r")):
            self._pending = lines.pop()
        else:
            self._pending = b""
        frames: list[bytes] = []
        for line in lines:
            self._lines.append(line)
            if line in _BLANK:
                frames.append(b"".join(self._lines))
                self._lines = []
        return frames

    def rest(self) -> bytes:
        """What is still held when the stream ends: an event it ended in the middle of."""
        rest = b"".join(self._lines) + self._pending
        self._lines, self._pending = [], b""
        return rest


def frame_data(frame: bytes) -> bytes:
    """The `data:` payload of one raw event (several data lines joined by \\n)."""
    parts: list[bytes] = []
    for raw in frame.splitlines():
        name, sep, value = raw.partition(b":")
        if name == b"data" and sep:
            parts.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(parts)


@dataclass
class SSEEvent:
    event: str  # "message" when the stream names none
    data: str


def parse_frame(frame: bytes) -> SSEEvent | None:
    """One raw event decoded; None for an event with no data (comments, keep-alives)."""
    event = ""
    data: list[str] = []
    for line in frame.splitlines():
        if not line or line.startswith(b":"):
            continue  # blank terminator, or a comment / keep-alive
        name, sep, value = line.partition(b":")
        if sep and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    return SSEEvent(event or "message", "\n".join(data)) if data else None


def typed_json_event(frame: bytes) -> tuple[str, dict[str, Any]] | None:
    """One raw event's JSON object and its kind: the object's own `type` (Anthropic
    and Responses events name it there), else the event's name. None for an event
    with no data, or data that is not a JSON object: a translator skips those."""
    event = parse_frame(frame)
    if event is None:
        return None
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    kind = data["type"] if isinstance(data.get("type"), str) else event.event
    return kind, data


class SSEParser:
    def __init__(self) -> None:
        self._framer = SSEFramer()

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        events = []
        for frame in self._framer.feed(chunk):
            event = parse_frame(frame)
            if event is not None:
                events.append(event)
        return events
