from __future__ import annotations

import json

import pytest

from aiproxy.formats import anthropic
from aiproxy.formats.usage import Usage
from tests.fakes.anthropic_upstream import stream_events


def test_error_body_shape_per_status():
    for status, kind in [(400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
                         (404, "not_found_error"), (429, "rate_limit_error"), (500, "api_error"),
                         (503, "overloaded_error"), (418, "invalid_request_error"), (599, "api_error")]:
        body = json.loads(anthropic.error_body(status, "why"))
        assert body == {"type": "error", "error": {"type": kind, "message": "why"}}


def test_usage_from_body():
    body = json.dumps({"model": "m", "usage": {"input_tokens": 3, "output_tokens": 4,
                                              "cache_creation_input_tokens": 5, "cache_read_input_tokens": None}})
    assert anthropic.usage_from_body(body.encode()) == (Usage(3, 4, 5, 0), "m")
    assert anthropic.usage_from_body(b"not json") == (None, None)
    assert anthropic.usage_from_body(b"[]") == (None, None)


@pytest.mark.parametrize("size", [1, 9, 64, 100_000])
def test_stream_usage_any_chunking(size: int):
    data = b"".join(stream_events("claude-x"))
    reader = anthropic.StreamUsage()
    for i in range(0, len(data), size):
        assert reader.feed(data[i : i + size]) == data[i : i + size]
    assert reader.usage == Usage(input_tokens=12, output_tokens=7, cache_creation_tokens=100, cache_read_tokens=200)
    assert reader.model == "claude-x" and reader.error is None


def _ev(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def test_message_delta_overwrites_not_sums():
    reader = anthropic.StreamUsage()
    reader.feed(_ev("message_start", {"message": {"model": "m", "usage": {"input_tokens": 10, "output_tokens": 1,
                                                                          "cache_read_input_tokens": 4}}}))
    reader.feed(_ev("message_delta", {"usage": {"output_tokens": 5}}))
    reader.feed(_ev("message_delta", {"usage": {"output_tokens": 9, "input_tokens": 11,
                                                "cache_read_input_tokens": None}}))
    assert reader.usage == Usage(input_tokens=11, output_tokens=9, cache_creation_tokens=0, cache_read_tokens=4)


def test_error_event_after_200_is_recorded():
    reader = anthropic.StreamUsage()
    reader.feed(_ev("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    assert reader.error == "overloaded_error: Overloaded"


def test_stream_error_event_is_an_sse_error():
    event = anthropic.stream_error_event(502, "broke")
    reader = anthropic.StreamUsage()
    reader.feed(event)
    assert reader.error == "api_error: broke"


# --- the 1h part of cache writes (usage.cache_creation) -----------------------


def test_usage_from_body_reads_the_1h_cache_writes():
    body = json.dumps({"model": "m", "usage": {
        "input_tokens": 3, "output_tokens": 4, "cache_creation_input_tokens": 500, "cache_read_input_tokens": 6,
        "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 300}}})
    assert anthropic.usage_from_body(body.encode()) == (Usage(3, 4, 500, 6, cache_creation_1h_tokens=300), "m")
    # Without the split (older API versions, other upstreams), none are 1h.
    body = json.dumps({"model": "m", "usage": {"input_tokens": 3, "cache_creation_input_tokens": 500,
                                              "cache_creation": None}})
    assert anthropic.usage_from_body(body.encode())[0] == Usage(3, 0, 500, 0, cache_creation_1h_tokens=0)


def test_stream_1h_cache_writes_from_start_overwritten_by_later_non_null_values():
    reader = anthropic.StreamUsage()
    reader.feed(_ev("message_start", {"message": {"model": "m", "usage": {
        "input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 500,
        "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 100}}}}))
    assert reader.usage.cache_creation_1h_tokens == 100
    # A delta without the split, or with a null, leaves it alone.
    reader.feed(_ev("message_delta", {"usage": {"output_tokens": 5}}))
    reader.feed(_ev("message_delta", {"usage": {"output_tokens": 6, "cache_creation": {
        "ephemeral_1h_input_tokens": None}}}))
    assert reader.usage.cache_creation_1h_tokens == 100
    # A non-null value overwrites (never sums).
    reader.feed(_ev("message_delta", {"usage": {"output_tokens": 9, "cache_creation_input_tokens": 600,
                                                "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                                                   "ephemeral_1h_input_tokens": 600}}}))
    assert reader.usage == Usage(input_tokens=10, output_tokens=9, cache_creation_tokens=600, cache_read_tokens=0,
                                 cache_creation_1h_tokens=600)
