"""formats/bedrock: model ids, request bodies, errors, and event-stream frames to Anthropic SSE."""

from __future__ import annotations

import json

import orjson
import pytest

pytest.importorskip("botocore")

from aiproxy.formats import anthropic, bedrock  # noqa: E402
from aiproxy.formats.sse import SSEParser  # noqa: E402
from tests.fakes.bedrock_upstream import (  # noqa: E402
    METRICS,
    USAGE,
    chunk_frame,
    encode_frame,
    exception_frame,
    stream_events,
)


def events_of(sse: bytes) -> list[tuple[str, dict]]:
    parsed = SSEParser().feed(sse)
    return [(e.event, json.loads(e.data)) for e in parsed]


def translate(data: bytes, *, step: int | None = None) -> bytes:
    t = bedrock.EventStreamTranslator()
    if step is None:
        out = t.feed(data)
    else:
        out = b"".join(t.feed(data[i:i + step]) for i in range(0, len(data), step))
    return out + t.end()


def usage_of(sse: bytes) -> tuple[int, int, int, int]:
    tap = anthropic.StreamUsage()
    tap.feed(sse)
    u = tap.usage
    return u.input_tokens, u.output_tokens, u.cache_creation_tokens, u.cache_read_tokens


# --- model ids, bodies, errors ---------------------------------------------


def test_model_ids():
    assert bedrock.model_id("claude-sonnet-4-5") == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert bedrock.model_id("claude-sonnet-4-5-20250929") == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert bedrock.model_id("claude-3-5-haiku-20241022") == "anthropic.claude-3-5-haiku-20241022-v1:0"
    for alias, dated in [("claude-sonnet-4", "claude-sonnet-4-20250514"), ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
                         ("claude-opus-4-1", "claude-opus-4-1-20250805")]:
        assert bedrock.model_id(alias) == bedrock.model_id(dated)
    assert bedrock.model_id("claude-haiku-4-5", cross_region_prefix="global") == (
        "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    )
    # The account's own ids win and are used as given (no prefix).
    assert bedrock.model_id("claude-haiku-4-5", {"claude-haiku-4-5": "arn:aws:bedrock:x"}, "eu") == "arn:aws:bedrock:x"
    assert bedrock.model_id("my-model", {"my-model": "anthropic.custom-v1:0"}) == "anthropic.custom-v1:0"
    # Already a Bedrock id: passes as is, prefix and all.
    assert bedrock.model_id("us.anthropic.claude-opus-4-1-20250805-v1:0", cross_region_prefix="eu") == (
        "us.anthropic.claude-opus-4-1-20250805-v1:0"
    )
    assert bedrock.model_id("gpt-4o") is None


def test_request_body_drops_model_and_stream_and_moves_betas():
    headers = [(b"anthropic-beta", b"context-1m-2025-08-07, interleaved-thinking-2025-05-14"),
               (b"Anthropic-Beta", b"context-1m-2025-08-07,token-efficient-tools-2025-02-19"),
               (b"anthropic-version", b"2023-06-01")]
    beta = bedrock.betas(headers)
    assert beta == ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14", "token-efficient-tools-2025-02-19"]
    body = {"model": "claude-sonnet-4-5", "stream": True, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    out = orjson.loads(bedrock.request_body(body, beta))
    assert out == {"max_tokens": 5, "messages": body["messages"], "anthropic_version": "bedrock-2023-05-31",
                   "anthropic_beta": beta}
    assert "model" in body  # the argument is not mutated
    assert "anthropic_beta" not in orjson.loads(bedrock.request_body(body, []))


@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [(400, "ValidationException", "invalid_request_error"), (403, "AccessDeniedException", "permission_error"),
     (429, "ThrottlingException", "rate_limit_error"), (503, "ServiceUnavailableException", "overloaded_error"),
     (500, "InternalServerException", "api_error"), (418, "", "invalid_request_error")],
)
def test_error_body(status: int, name: str, kind: str):
    header = f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/" if name else None
    out = orjson.loads(bedrock.error_body(status, b'{"message": "it went wrong"}', header))
    assert out["type"] == "error" and out["error"]["type"] == kind
    assert "it went wrong" in out["error"]["message"] and name in out["error"]["message"]
    out = orjson.loads(bedrock.error_body(502, b"<html>bad gateway</html>"))
    assert out["error"]["type"] == "api_error" and "bad gateway" in out["error"]["message"]


def test_models_list():
    out = orjson.loads(bedrock.models_list({"my-claude": "anthropic.x"}))
    ids = [m["id"] for m in out["data"]]
    assert ids[0] == "my-claude" and "claude-sonnet-4-5-20250929" in ids
    assert out["first_id"] == "my-claude" and out["has_more"] is False
    assert all(m["type"] == "model" for m in out["data"])


# --- the event stream --------------------------------------------------------


def test_frames_become_anthropic_sse_at_every_split():
    sent = stream_events()
    data = b"".join(chunk_frame(e) for e in sent)
    whole = translate(data)
    assert events_of(whole) == [(e["type"], e) for e in sent]
    assert whole.startswith(b"event: message_start\ndata: {")
    assert usage_of(whole) == (USAGE["input_tokens"], USAGE["output_tokens"],
                               USAGE["cache_creation_input_tokens"], USAGE["cache_read_input_tokens"])
    # Byte by byte, and split at every single boundary in two.
    assert translate(data, step=1) == whole
    t_boundaries = set()
    for cut in range(1, len(data)):
        t = bedrock.EventStreamTranslator()
        out = t.feed(data[:cut]) + t.feed(data[cut:]) + t.end()
        assert out == whole, cut
        t_boundaries.add(cut)
    assert len(t_boundaries) == len(data) - 1


def test_events_are_sent_as_their_frames_complete():
    frames = [chunk_frame(e) for e in stream_events()]
    t = bedrock.EventStreamTranslator()
    assert t.feed(frames[0][:-1]) == b""  # a frame one byte short: nothing yet
    assert events_of(t.feed(frames[0][-1:]))[0][0] == "message_start"
    assert events_of(t.feed(frames[1]))[0][0] == "content_block_start"


def test_exception_frame_becomes_error_event():
    data = b"".join(chunk_frame(e) for e in stream_events()[:3])
    data += exception_frame("throttlingException", "Too many tokens, please wait before trying again.")
    for step in (None, 1, 7):
        out = translate(data, step=step)
        evs = events_of(out)
        assert [e for e, _ in evs] == ["message_start", "content_block_start", "content_block_delta", "error"]
        err = evs[-1][1]
        assert err["type"] == "error" and err["error"]["type"] == "rate_limit_error"
        assert "throttlingException" in err["error"]["message"] and "Too many tokens" in err["error"]["message"]
    tap = anthropic.StreamUsage()
    tap.feed(out)
    assert tap.error and "rate_limit_error" in tap.error


@pytest.mark.parametrize(
    ("name", "kind"),
    [("modelStreamErrorException", "api_error"), ("validationException", "invalid_request_error"),
     ("serviceUnavailableException", "overloaded_error"), ("somethingNewException", "api_error")],
)
def test_other_exceptions(name: str, kind: str):
    [(event, data)] = events_of(translate(exception_frame(name, "boom")))
    assert event == "error" and data["error"]["type"] == kind and "boom" in data["error"]["message"]


def test_error_message_frame():
    frame = encode_frame({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, b"")
    [(event, data)] = events_of(translate(frame))
    assert event == "error" and "InternalFailure: oops" in data["error"]["message"]


def test_usage_from_invocation_metrics_when_events_carry_none():
    sent = stream_events(with_usage=False)
    out = translate(b"".join(chunk_frame(e) for e in sent), step=5)
    evs = events_of(out)
    # No extra event: the message_delta was held back and completed from the metrics.
    assert [e for e, _ in evs] == [e["type"] for e in sent]
    delta = dict(evs)["message_delta"]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"] == {"input_tokens": 12, "output_tokens": 7, "cache_read_input_tokens": 200,
                              "cache_creation_input_tokens": 100}
    assert dict(evs)["message_stop"]["amazon-bedrock-invocationMetrics"] == METRICS
    assert usage_of(out) == (12, 7, 100, 200)


def test_metrics_do_not_override_usage_the_events_carried():
    sent = stream_events()
    sent[-1] = {"type": "message_stop", "amazon-bedrock-invocationMetrics": {**METRICS, "outputTokenCount": 999}}
    out = translate(b"".join(chunk_frame(e) for e in sent))
    assert events_of(out) == [(e["type"], e) for e in sent]  # unchanged
    assert usage_of(out) == (12, 7, 100, 200)


def test_metrics_without_any_message_delta_add_one():
    sent = [stream_events(with_usage=False)[0],
            {"type": "message_stop", "amazon-bedrock-invocationMetrics": METRICS}]
    evs = events_of(translate(b"".join(chunk_frame(e) for e in sent)))
    assert [e for e, _ in evs] == ["message_start", "message_delta", "message_stop"]
    assert evs[1][1]["usage"]["output_tokens"] == 7


def test_held_message_delta_is_flushed_at_the_end():
    sent = stream_events()[:-1]  # the stream stops after message_delta
    t = bedrock.EventStreamTranslator()
    out = t.feed(b"".join(chunk_frame(e) for e in sent))
    assert b"message_delta" not in out
    out += t.end()
    assert events_of(out)[-1][0] == "message_delta"


def test_corrupt_and_cut_streams_end_in_an_error_event():
    frame = bytearray(chunk_frame(stream_events()[0]))
    frame[-1] ^= 0xFF  # a bad message CRC
    [(event, data)] = events_of(translate(bytes(frame)))
    assert event == "error" and "ChecksumMismatch" in data["error"]["message"]
    cut = chunk_frame(stream_events()[0])[:-3]
    [(event, data)] = events_of(translate(cut))
    assert event == "error" and "middle of a frame" in data["error"]["message"]


def test_chunk_json_with_newlines_is_kept_on_one_data_line():
    event = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a\nb"}}
    pretty = json.dumps(event, indent=2).encode()
    import base64
    frame = encode_frame({":event-type": "chunk", ":message-type": "event"},
                         json.dumps({"bytes": base64.b64encode(pretty).decode()}).encode())
    out = translate(frame)
    assert out.count(b"\ndata: ") == 1
    assert events_of(out) == [("content_block_delta", event)]
