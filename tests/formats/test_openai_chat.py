from __future__ import annotations

import json

import pytest

from aiproxy.formats import openai_chat
from aiproxy.formats.sse import SSEFramer, frame_data
from aiproxy.formats.usage import Usage

# A stream as api.openai.com sends it with stream_options.include_usage: every
# chunk has "usage":null, and a last chunk with choices [] carries the usage.
RECORDED = (
    b'data: {"id":"chatcmpl-BqT3","object":"chat.completion.chunk","created":1751900000,"model":"gpt-4.1-2025-04-14",'
    b'"service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-BqT3","object":"chat.completion.chunk","created":1751900000,"model":"gpt-4.1-2025-04-14",'
    b'"service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[{"index":0,"delta":{"content":'
    b'"The \\"usage\\": tokens \xc3\xa9t\xc3\xa9"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-BqT3","object":"chat.completion.chunk","created":1751900000,"model":"gpt-4.1-2025-04-14",'
    b'"service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[{"index":0,"delta":{},"logprobs":null,'
    b'"finish_reason":"stop"}],"usage":null}\n\n'
)
USAGE_CHUNK = (
    b'data: {"id":"chatcmpl-BqT3","object":"chat.completion.chunk","created":1751900000,"model":"gpt-4.1-2025-04-14",'
    b'"service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[],"usage":{"prompt_tokens":1205,'
    b'"completion_tokens":48,"total_tokens":1253,"prompt_tokens_details":{"cached_tokens":1152,"audio_tokens":0},'
    b'"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,'
    b'"rejected_prediction_tokens":0}}}\n\n'
)
DONE = b"data: [DONE]\n\n"
RECORDED_USAGE = Usage(input_tokens=1205 - 1152, output_tokens=48, cache_read_tokens=1152)

# Azure OpenAI: a first chunk with choices [] and prompt_filter_results but no
# usage, content filter results on each chunk, and the usage chunk at the end.
AZURE = (
    b'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,'
    b'"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,'
    b'"severity":"safe"}}}]}\r\n\r\n'
    b'data: {"choices":[{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},'
    b'"finish_reason":null,"index":0,"logprobs":null}],"created":1751900001,"id":"chatcmpl-Az1","model":'
    b'"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":null}\r\n\r\n'
    b'data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},"delta":{"content":'
    b'"Hi"},"finish_reason":"stop","index":0,"logprobs":null}],"created":1751900001,"id":"chatcmpl-Az1","model":'
    b'"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":null}\r\n\r\n'
    b'data: {"choices":[],"created":1751900001,"id":"chatcmpl-Az1","model":"gpt-4o-2024-11-20","object":'
    b'"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":{"completion_tokens":2,'
    b'"completion_tokens_details":{"reasoning_tokens":0},"prompt_tokens":9,"prompt_tokens_details":'
    b'{"cached_tokens":0},"total_tokens":11}}\r\n\r\n'
    b"data: [DONE]\r\n\r\n"
)


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run(tap: openai_chat.StreamTap, data: bytes, size: int) -> bytes:
    out = b"".join(tap.feed(c) for c in chunks(data, size))
    return out + tap.end()


def test_error_body_shape_per_status():
    for status, kind, code in [
        (400, "invalid_request_error", None), (401, "authentication_error", "invalid_api_key"),
        (403, "permission_error", "insufficient_permissions"), (404, "not_found_error", "not_found"),
        (429, "rate_limit_error", "rate_limit_exceeded"), (500, "server_error", "server_error"),
        (503, "server_error", "service_unavailable"), (418, "invalid_request_error", None), (599, "server_error", None),
    ]:
        body = json.loads(openai_chat.error_body(status, "why"))
        assert body == {"error": {"message": "why", "type": kind, "param": None, "code": code}}


def test_stream_error_is_a_data_line_with_error():
    line = openai_chat.stream_error(502, "broke")
    assert line.startswith(b"data: {") and line.endswith(b"\n\n")
    assert json.loads(line[6:])["error"]["message"] == "broke"
    tap = openai_chat.StreamTap()
    tap.feed(line)
    assert tap.error == "bad_gateway: broke"


def test_usage_from_body_subtracts_cached_tokens():
    body = json.dumps({"model": "gpt-4.1", "usage": {"prompt_tokens": 100, "completion_tokens": 20,
                                                      "prompt_tokens_details": {"cached_tokens": 64}}})
    assert openai_chat.usage_from_body(body.encode()) == (Usage(36, 20, 0, 64), "gpt-4.1")
    no_details = json.dumps({"model": "m", "usage": {"prompt_tokens": 5, "completion_tokens": 1,
                                                      "prompt_tokens_details": None}})
    assert openai_chat.usage_from_body(no_details.encode()) == (Usage(5, 1, 0, 0), "m")
    assert openai_chat.usage_from_body(b'{"model":"m"}') == (None, "m")
    assert openai_chat.usage_from_body(b"not json") == (None, None)
    assert openai_chat.usage_from_body(b"[]") == (None, None)


def test_usage_from_body_reads_cache_writes_where_an_answer_has_them():
    # The gateway's translated answers carry them (a Claude account's cache writes), and so do some servers.
    body = json.dumps({"model": "m", "usage": {"prompt_tokens": 100, "completion_tokens": 20, "prompt_tokens_details": {
        "cached_tokens": 64, "cache_write_tokens": 30}}})
    assert openai_chat.usage_from_body(body.encode()) == (Usage(6, 20, 30, 64), "m")


@pytest.mark.parametrize("data", [RECORDED + USAGE_CHUNK + DONE, AZURE], ids=["openai", "azure"])
def test_client_asked_for_usage_every_chunking_passes_bytes_unchanged(data: bytes):
    expected = RECORDED_USAGE if data is not AZURE else Usage(input_tokens=9, output_tokens=2)
    for size in range(1, len(data) + 1):
        tap = openai_chat.StreamTap(drop_usage_chunk=False)
        for c in chunks(data, size):
            assert tap.feed(c) == c  # chunk for chunk, not just in total
        assert tap.end() == b""
        assert tap.usage == expected, size
        assert tap.model in ("gpt-4.1-2025-04-14", "gpt-4o-2024-11-20") and tap.error is None


def test_injected_usage_chunk_is_dropped_at_every_chunking():
    data = RECORDED + USAGE_CHUNK + DONE
    for size in range(1, len(data) + 1):
        tap = openai_chat.StreamTap(drop_usage_chunk=True)
        assert run(tap, data, size) == RECORDED + DONE, size
        assert tap.usage == RECORDED_USAGE


def test_azure_first_chunk_is_kept_and_its_null_usage_ignored():
    usage_chunk = AZURE.split(b"\r\n\r\n")[3] + b"\r\n\r\n"
    for size in range(1, len(AZURE) + 1):
        tap = openai_chat.StreamTap(drop_usage_chunk=True)
        out = run(tap, AZURE, size)
        assert out == AZURE.replace(usage_chunk, b""), size
        assert out.startswith(b'data: {"choices":[],"created":0')  # choices [] without usage stays
        assert tap.usage == Usage(input_tokens=9, output_tokens=2)
        assert tap.model == "gpt-4o-2024-11-20"


def test_stream_without_usage_records_nothing_and_changes_nothing():
    tap = openai_chat.StreamTap(drop_usage_chunk=True)
    assert run(tap, RECORDED + DONE, 7) == RECORDED + DONE
    assert tap.usage == Usage()


def test_usage_on_a_chunk_with_choices_is_read_but_never_dropped():
    # Some OpenAI-compatible servers put usage on the finish chunk: it carries content, so it stays.
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],' \
            b'"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
    tap = openai_chat.StreamTap(drop_usage_chunk=True)
    assert run(tap, chunk + DONE, 5) == chunk + DONE
    assert tap.usage == Usage(3, 1, 0, 0)


def test_unterminated_last_event_is_read_at_end():
    tap = openai_chat.StreamTap(drop_usage_chunk=True)
    out = run(tap, RECORDED + USAGE_CHUNK.rstrip(b"\n"), 11)
    assert out == RECORDED and tap.usage == RECORDED_USAGE
    tap = openai_chat.StreamTap(drop_usage_chunk=True)
    assert run(tap, RECORDED + b"data: [DONE]", 11) == RECORDED + b"data: [DONE]"


def test_mid_stream_error_chunk_is_recorded_and_relayed():
    err = b'data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}\n\n'
    tap = openai_chat.StreamTap(drop_usage_chunk=True)
    assert run(tap, RECORDED + err, 3) == RECORDED + err
    assert tap.error == "server_error: The server had an error"


def test_client_wants_usage_and_prepare_body():
    assert openai_chat.client_wants_usage({"stream_options": {"include_usage": True}})
    assert not openai_chat.client_wants_usage({"stream_options": {"include_usage": False}})
    assert not openai_chat.client_wants_usage({"stream_options": None})
    assert not openai_chat.client_wants_usage(None)

    plain = {"model": "m", "messages": []}
    assert openai_chat.prepare_body(plain) is plain  # not streamed: nothing to ask
    asked = {"model": "m", "stream": True, "stream_options": {"include_usage": True}}
    assert openai_chat.prepare_body(asked) == asked
    options = {"include_obfuscation": False}
    client = {"model": "m", "stream": True, "stream_options": options}
    sent = openai_chat.prepare_body(client)
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    # The client's own body is untouched: the tap reads it to learn what the client asked.
    assert client["stream_options"] is options and options == {"include_obfuscation": False}
    assert openai_chat.prepare_body({"stream": True})["stream_options"] == {"include_usage": True}
    assert openai_chat.prepare_body({"stream": True, "stream_options": None})["stream_options"] == {
        "include_usage": True}


def test_framer_keeps_bytes_and_frames_events():
    data = b": keep-alive\n\nevent: x\ndata: a\ndata: b\r\n\r\ndata: c\r\rdata: tail"
    for size in range(1, len(data) + 1):
        framer = SSEFramer()
        frames = [f for c in chunks(data, size) for f in framer.feed(c)]
        rest = framer.rest()
        assert b"".join(frames) + rest == data
        assert frames == [b": keep-alive\n\n", b"event: x\ndata: a\ndata: b\r\n\r\n", b"data: c\r\r"], size
        assert [frame_data(f) for f in frames] == [b"", b"a\nb", b"c"]
        assert rest == b"data: tail"
