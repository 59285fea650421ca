from __future__ import annotations

import json

import pytest

from aiproxy.formats import gemini
from aiproxy.formats.gemini import JSONArraySplitter, StreamUsage
from aiproxy.formats.usage import Usage
from tests.fakes.gemini_upstream import RECORDED, array_pieces, response, sse_pieces

# Streams in the byte layout the Gemini API sends (gemini-2.5-flash, thinking on):
# SSE elements end in \r\n\r\n; the array puts "\n,\r\n" between pretty-printed elements.
RECORDED_SSE = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "**Plan** {x}","thought": true}],"role": "model"},'
    b'"index": 0}],"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 37,"promptTokensDetails": '
    b'[{"modality": "TEXT","tokenCount": 9}],"thoughtsTokenCount": 28},"modelVersion": "gemini-2.5-flash",'
    b'"responseId": "Xy1aaM7HBKaY"}\r\n\r\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": "Hi \\"there\\" \\u00e9\xc3\xa9 }"}],"role": "model"},'
    b'"index": 0}],"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 4,"totalTokenCount": 41,'
    b'"thoughtsTokenCount": 28},"modelVersion": "gemini-2.5-flash","responseId": "Xy1aaM7HBKaY"}\r\n\r\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": "!"}],"role": "model"},"finishReason": "STOP",'
    b'"index": 0}],"usageMetadata": {"promptTokenCount": 2057,"candidatesTokenCount": 6,"totalTokenCount": 2091,'
    b'"cachedContentTokenCount": 2048,"thoughtsTokenCount": 28},"modelVersion": "gemini-2.5-flash",'
    b'"responseId": "Xy1aaM7HBKaY"}\r\n\r\n'
)
RECORDED_ARRAY = (
    b'[{\n  "candidates": [\n    {\n      "content": {\n        "parts": [\n          {\n'
    b'            "text": "a \\\\\\" {[ brace"\n          }\n        ],\n        "role": "model"\n      },\n'
    b'      "index": 0\n    }\n  ],\n  "usageMetadata": {\n    "promptTokenCount": 9,\n'
    b'    "totalTokenCount": 12,\n    "candidatesTokenCount": 3\n  },\n'
    b'  "modelVersion": "gemini-2.5-flash",\n  "responseId": "Xy1aaM7HBKaY"\n}\n,\r\n'
    b'{\n  "candidates": [\n    {\n      "content": {\n        "parts": [\n          {\n'
    b'            "text": "} done \\\\"\n          }\n        ],\n        "role": "model"\n      },\n'
    b'      "finishReason": "STOP",\n      "index": 0\n    }\n  ],\n  "usageMetadata": {\n'
    b'    "promptTokenCount": 2057,\n    "candidatesTokenCount": 6,\n    "totalTokenCount": 2091,\n'
    b'    "cachedContentTokenCount": 2048,\n    "thoughtsTokenCount": 28\n  },\n'
    b'  "modelVersion": "gemini-2.5-flash",\n  "responseId": "Xy1aaM7HBKaY"\n}\n]'
)
# The last element's usage: 2057 prompt tokens of which 2048 cached; 6 answer + 28 thought tokens.
RECORDED_USAGE = Usage(input_tokens=9, output_tokens=34, cache_creation_tokens=0, cache_read_tokens=2048)


def test_recorded_bytes_are_what_they_claim():
    elements = [json.loads(line[6:]) for line in RECORDED_SSE.split(b"\r\n\r\n") if line]
    assert len(elements) == 3
    assert elements[1]["candidates"][0]["content"]["parts"][0]["text"] == 'Hi "there" éé }'
    array = json.loads(RECORDED_ARRAY)
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in array] == ['a \\" {[ brace', "} done \\"]


def test_error_body_shape_per_status():
    for status, name in [(400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"),
                         (404, "NOT_FOUND"), (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE"),
                         (504, "DEADLINE_EXCEEDED"), (418, "INVALID_ARGUMENT"), (599, "INTERNAL")]:
        body = json.loads(gemini.error_body(status, "why"))
        assert body == {"error": {"code": status, "message": "why", "status": name}}
    assert gemini.error_message(gemini.error_body(429, "slow down")) == "RESOURCE_EXHAUSTED: slow down"
    assert gemini.error_message(b"nope") is None and gemini.error_message(b'{"error": 1}') is None


@pytest.mark.parametrize("path, model", [
    ("/gemini/v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash"),
    ("/v1/models/gemini-2.0-flash-001:streamGenerateContent", "gemini-2.0-flash-001"),
    ("/gemini/v1beta/models/gemini-2.5-pro", "gemini-2.5-pro"),
    ("/gemini/v1beta/models", None),
    ("/gemini/v1beta/models/", None),
    ("/gemini/v1beta/models/:generateContent", None),
    ("/gemini/v1/chat", None),
])
def test_model_from_path(path: str, model: str | None):
    assert gemini.model_from_path(path) == model


def test_usage_from_body_normalises_cache_and_thoughts():
    body = json.dumps(response("gemini-x")).encode()
    usage, model = gemini.usage_from_body(body)
    assert usage == Usage(**RECORDED) and model == "gemini-x"
    assert gemini.usage_from_body(b"not json") == (None, None)
    assert gemini.usage_from_body(b"[]") == (None, None)
    assert gemini.usage_from_body(b'{"modelVersion": "m"}') == (None, "m")
    # Missing counts are zeros, never negative.
    assert gemini.usage_from_metadata({"promptTokenCount": 5}) == Usage(5, 0, 0, 0)
    assert gemini.usage_from_metadata({"cachedContentTokenCount": 3}) == Usage(0, 0, 0, 3)


def feed_all(tap: StreamUsage, data: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(data), size):
        out += tap.feed(data[i : i + size])
    return out + tap.end()


@pytest.mark.parametrize("data", [RECORDED_SSE, RECORDED_ARRAY], ids=["sse", "array"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1_000_000])
def test_recorded_streams_any_chunk_size(data: bytes, size: int):
    tap = StreamUsage()
    assert feed_all(tap, data, size) == data  # relayed unchanged
    assert tap.usage == RECORDED_USAGE
    assert tap.model == "gemini-2.5-flash" and tap.error is None


@pytest.mark.parametrize("data", [RECORDED_SSE, RECORDED_ARRAY], ids=["sse", "array"])
def test_recorded_streams_split_at_every_byte(data: bytes):
    for cut in range(len(data) + 1):
        tap = StreamUsage()
        assert tap.feed(data[:cut]) + tap.feed(data[cut:]) + tap.end() == data
        assert tap.usage == RECORDED_USAGE, cut


@pytest.mark.parametrize("pieces", [sse_pieces, array_pieces], ids=["sse", "array"])
def test_fake_upstream_streams_as_written(pieces):
    tap = StreamUsage()
    for piece in pieces("gemini-x"):
        assert tap.feed(piece) == piece
    assert tap.usage == Usage(**RECORDED) and tap.model == "gemini-x"


def test_usage_is_the_last_elements_not_a_sum():
    tap = StreamUsage()
    for prompt, out in [(10, 1), (10, 5), (10, 9)]:
        tap.feed(b"data: " + json.dumps({"usageMetadata": {"promptTokenCount": prompt,
                                                            "candidatesTokenCount": out}}).encode() + b"\n\n")
    assert tap.usage == Usage(input_tokens=10, output_tokens=9)


def test_splitter_strings_with_braces_quotes_and_escapes():
    objects = [{"t": 'a"}{b'}, {"t": "\\"}, {"t": "\\\"}"}, {"n": {"deep": [{"x": "}"}]}}, {"t": "é{ü"}]
    data = ("  [" + ",\r\n".join(json.dumps(o, ensure_ascii=False) for o in objects) + "]").encode()
    for cut in range(len(data) + 1):
        splitter = JSONArraySplitter()
        found = splitter.feed(data[:cut]) + splitter.feed(data[cut:])
        assert [json.loads(f) for f in found] == objects, cut
    splitter = JSONArraySplitter()
    assert [json.loads(f) for b in data for f in splitter.feed(bytes([b]))] == objects


def test_splitter_holds_only_the_element_in_progress():
    splitter = JSONArraySplitter()
    big = json.dumps({"t": "x" * 10_000}).encode()
    splitter.feed(b"[" + big + b",\r\n" + big[:50])
    assert sum(len(h) for h in splitter._held) == 50


def test_error_element_mid_stream_is_recorded():
    for data in [
        b'[{"candidates": [], "modelVersion": "m"},\r\n{"error": {"code": 503, "message": "overloaded", '
        b'"status": "UNAVAILABLE"}}\r\n]',
        b'data: {"modelVersion": "m"}\r\n\r\ndata: {"error": {"code": 503, "message": "overloaded", '
        b'"status": "UNAVAILABLE"}}\r\n\r\n',
    ]:
        tap = StreamUsage()
        tap.feed(data)
        assert tap.error == "UNAVAILABLE: overloaded" and tap.model == "m"


def test_stream_error_is_an_sse_error_element():
    tap = StreamUsage()
    tap.feed(gemini.stream_error(502, "broke"))
    assert tap.error == "UNAVAILABLE: broke"


def test_leading_whitespace_waits_for_the_shape():
    tap = StreamUsage()
    assert tap.feed(b"\r\n ") == b"\r\n "
    tap.feed(RECORDED_ARRAY)
    assert tap.usage == RECORDED_USAGE


@pytest.mark.parametrize(("reason", "kind"), [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
    ("SPII", "content_filter"), ("OTHER", "stop"), (None, None), ("FINISH_REASON_UNSPECIFIED", None), (7, "stop"),
])
def test_finish_reason_in_the_words_other_formats_map_onto(reason: object, kind: str | None) -> None:
    assert gemini.finish_reason(reason) == kind
