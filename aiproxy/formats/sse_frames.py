"""Splits a Server-Sent Events byte stream into whole events, each kept as its raw bytes.

`SSEParser` (sse.py) decodes events; this keeps their bytes, for taps that must
drop an event from what is relayed and pass every other byte on unchanged.
Chunks may split anywhere, so a line is only judged once it is whole.
"""

from __future__ import annotations

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
