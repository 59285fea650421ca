from __future__ import annotations

import json

import pytest

from aiproxy.formats import gemini_chat
from aiproxy.formats.gemini_chat import ChatStream
from aiproxy.formats.usage import Usage
from tests.fakes.gemini_upstream import RECORDED, TEXT_PIECES, THOUGHT, response, sse_pieces
from tests.formats.test_gemini import RECORDED_SSE, RECORDED_USAGE

CHAT = {
    "model": "gemini-2.5-flash",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}]},
        {"role": "user", "content": "Again"},
    ],
    "temperature": 0.3,
    "top_p": 0.9,
    "max_tokens": 100,
    "stop": "END",
}


def test_request_translated():
    assert gemini_chat.request_problem(CHAT) is None
    assert gemini_chat.to_gemini(CHAT) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Again"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
        "generationConfig": {"temperature": 0.3, "topP": 0.9, "maxOutputTokens": 100, "stopSequences": ["END"]},
    }


def test_request_minimal_and_max_completion_tokens_wins():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5,
            "max_completion_tokens": 7, "stop": ["a", "b"]}
    assert gemini_chat.to_gemini(body) == {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "generationConfig": {"maxOutputTokens": 7, "stopSequences": ["a", "b"]},
    }
    assert gemini_chat.to_gemini({"model": "m", "messages": [{"role": "user", "content": "x"}]}) == {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}]}


@pytest.mark.parametrize("body, words", [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "messages": []}, "non-empty"),
    ({"model": "m", "messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}, "role 'tool'"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "text"),
    ({"model": "m", "messages": [{"role": "user", "content": None}]}, "content"),
    ({"model": "m", "messages": [{"role": "system", "content": "x"}]}, "user or assistant"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools"),
    ({"model": "m", "messages": ["hi"]}, "object"),
    # Found by tests/faults/test_fuzz.py: each was a 500.
    ({"model": "m", "messages": [{"role": {"a": 1}, "content": "x"}]}, "not supported"),
    ({"model": "m", "messages": [{"role": ["user"], "content": "x"}]}, "not supported"),
    ({"model": "a\x00b", "messages": [{"role": "user", "content": "x"}]}, "printable"),
    ({"model": "m" * 100_000, "messages": [{"role": "user", "content": "x"}]}, "at most 256"),
])
def test_request_problems(body: dict, words: str):
    problem = gemini_chat.request_problem(body)
    assert problem is not None and words in problem


def test_completion_translated_without_thoughts():
    out = json.loads(gemini_chat.completion_from_gemini(json.dumps(response("gemini-x")).encode(), created=7))
    assert out == {
        "id": "chatcmpl-resp_fake",
        "object": "chat.completion",
        "created": 7,
        "model": "gemini-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(TEXT_PIECES)},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132,
                  "prompt_tokens_details": {"cached_tokens": 100},
                  "completion_tokens_details": {"reasoning_tokens": 5}},
    }
    assert THOUGHT not in json.dumps(out)


def test_completion_finish_reasons_and_blocked_prompt():
    body = {"candidates": [{"content": {"parts": [{"text": "cut"}]}, "finishReason": "MAX_TOKENS"},
                           {"content": {"parts": []}, "finishReason": "SAFETY", "index": 1}]}
    out = json.loads(gemini_chat.completion_from_gemini(json.dumps(body).encode()))
    assert [(c["index"], c["finish_reason"]) for c in out["choices"]] == [(0, "length"), (1, "content_filter")]
    assert "usage" not in out
    blocked = json.loads(gemini_chat.completion_from_gemini(b'{"promptFeedback": {"blockReason": "SAFETY"}}'))
    assert blocked["choices"][0]["finish_reason"] == "content_filter"
    assert gemini_chat.completion_from_gemini(b"not json") == b"not json"


def events(data: bytes) -> list:
    lines = [line for line in data.split(b"\n\n") if line]
    assert all(line.startswith(b"data: ") for line in lines)
    return [line[6:].decode() if line[6:] == b"[DONE]" else json.loads(line[6:]) for line in lines]


def run(tap: ChatStream, data: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(data), size):
        out += tap.feed(data[i : i + size])
    return out + tap.end()


@pytest.mark.parametrize("size", [1, 5, 64, 1_000_000])
def test_stream_translated_any_chunking(size: int):
    tap = ChatStream(created=7)
    got = events(run(tap, b"".join(sse_pieces("gemini-x")), size))
    assert got[-1] == "[DONE]"
    chunks = got[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-resp_fake" and c["created"] == 7
               and c["model"] == "gemini-x" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}  # the thought is not text
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "".join(TEXT_PIECES)
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert all("usage" not in c for c in chunks)  # not asked for
    assert tap.usage == Usage(**RECORDED) and tap.model == "gemini-x" and tap.error is None


def test_stream_usage_chunk_when_asked():
    tap = ChatStream(include_usage=True)
    got = events(run(tap, RECORDED_SSE, 13))
    assert got[-1] == "[DONE]"
    assert got[-2]["choices"] == [] and got[-2]["usage"] == {
        "prompt_tokens": 2057, "completion_tokens": 34, "total_tokens": 2091,
        "prompt_tokens_details": {"cached_tokens": 2048}, "completion_tokens_details": {"reasoning_tokens": 28}}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in got[:-2]) == 'Hi "there" éé }!'
    assert tap.usage == RECORDED_USAGE


def test_stream_split_at_every_byte():
    data = b"".join(sse_pieces("gemini-x"))
    whole = ChatStream(created=1)
    expected = run(whole, data, len(data))
    for cut in range(0, len(data) + 1, 3):
        tap = ChatStream(created=1)
        assert tap.feed(data[:cut]) + tap.feed(data[cut:]) + tap.end() == expected


def test_stream_error_element_ends_without_done():
    tap = ChatStream()
    out = tap.feed(b'data: {"candidates": [{"content": {"parts": [{"text": "a"}]}}]}\r\n\r\n'
                   b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n')
    out += tap.end()
    got = events(out)
    assert got[-1] == {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    assert "[DONE]" not in got
    assert tap.error == "UNAVAILABLE: overloaded"


def test_stream_blocked_prompt_finishes_with_content_filter():
    tap = ChatStream()
    got = events(tap.feed(b'data: {"promptFeedback": {"blockReason": "SAFETY"}}\r\n\r\n') + tap.end())
    assert got[0]["choices"][0]["finish_reason"] == "content_filter" and got[-1] == "[DONE]"
