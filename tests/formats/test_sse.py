from __future__ import annotations

import pytest

from aiproxy.formats.sse import SSEEvent, SSEParser

STREAM = (
    b"event: message_start\ndata: {\"a\": 1}\n\n"
    b": keep-alive comment\n\n"
    b"event: ping\r\ndata: {}\r\n\r\n"
    b"data: line one\ndata: line two\n\n"
    b"event: caf\xc3\xa9\ndata:no-space\n\n"
)
EXPECTED = [
    SSEEvent("message_start", '{"a": 1}'),
    SSEEvent("ping", "{}"),
    SSEEvent("message", "line one\nline two"),
    SSEEvent("café", "no-space"),
]


def test_whole_stream():
    assert SSEParser().feed(STREAM) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_any_split_gives_the_same_events(size: int):
    # Splits land between \r and \n, inside UTF-8 sequences, mid-field.
    parser = SSEParser()
    events = []
    for i in range(0, len(STREAM), size):
        events += parser.feed(STREAM[i : i + size])
    assert events == EXPECTED


def test_unterminated_event_is_held_back():
    parser = SSEParser()
    assert parser.feed(b"event: x\ndata: 1\n") == []
    assert parser.feed(b"\n") == [SSEEvent("x", "1")]


def test_typed_json_event_names_an_event_by_its_type_else_its_name() -> None:
    from aiproxy.formats.sse import typed_json_event

    assert typed_json_event(b'event: x\ndata: {"type": "message_stop"}\n\n') == ("message_stop", {"type": "message_stop"})
    assert typed_json_event(b'event: error\ndata: {"error": {"message": "m"}}\n\n') == (
        "error", {"error": {"message": "m"}})
    assert typed_json_event(b'data: {"a": 1}\n\n') == ("message", {"a": 1})
    # Nothing to read: no data, not JSON, or JSON that is not an object.
    assert typed_json_event(b": keep-alive\n\n") is None
    assert typed_json_event(b"data: [DONE]\n\n") is None
    assert typed_json_event(b"data: [1, 2]\n\n") is None
