"""Code Assist's envelope: requests wrapped, answers and streams unwrapped (split at every byte)."""

from __future__ import annotations

import json

import pytest

from aiproxy.formats import code_assist
from aiproxy.formats.gemini import StreamUsage
from tests.fakes.gemini_upstream import RECORDED, stream_chunks

BODY = {
    "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "tools": [{"functionDeclarations": [{"name": "f"}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "generationConfig": {"temperature": 0.2},
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
}


def wrapped_sse(chunks: list[dict]) -> bytes:
    return b"".join(
        b"data: " + json.dumps({"response": c, "traceId": f"t{i}"}).encode() + b"\r\n\r\n"
        for i, c in enumerate(chunks))


def test_split_path():
    assert code_assist.split_path("/v1beta/models/gemini-2.5-pro:generateContent") == (
        "gemini-2.5-pro", "generateContent", "")
    assert code_assist.split_path("/v1beta/models/m:streamGenerateContent?alt=sse") == (
        "m", "streamGenerateContent", "alt=sse")
    assert code_assist.split_path("/v1beta/models") is None
    assert code_assist.split_path("/v1beta/models/m") is None


def test_wrap_generate_carries_the_native_body_and_the_project():
    wrapped = code_assist.wrap_generate({**BODY, "model": "ignored"}, "gemini-2.5-pro", "proj-1", "p-1")
    assert wrapped == {"model": "gemini-2.5-pro", "project": "proj-1", "user_prompt_id": "p-1", "request": BODY}
    # A prompt id of its own per request when none is given.
    a, b = (code_assist.wrap_generate(BODY, "m", "p") for _ in range(2))
    assert a["user_prompt_id"] and a["user_prompt_id"] != b["user_prompt_id"]


def test_wrap_count_tokens():
    assert code_assist.wrap_count_tokens({"contents": BODY["contents"]}, "gemini-2.5-flash") == {
        "request": {"model": "models/gemini-2.5-flash", "contents": BODY["contents"]}}
    nested = {"generateContentRequest": {"model": "models/x", "contents": BODY["contents"]}}
    assert code_assist.wrap_count_tokens(nested, "m")["request"]["contents"] == BODY["contents"]


def test_count_tokens_carries_system_and_tools_in_the_contents():
    # Code Assist's count takes model and contents only: the rest goes in front as text.
    tools = [{"functionDeclarations": [{"name": "read_file", "parametersJsonSchema": {"type": "object"}}]}]
    nested = {"generateContentRequest": {"model": "models/x", "contents": BODY["contents"],
                                         "systemInstruction": {"parts": [{"text": "Be brief."}]},
                                         "tools": tools, "generationConfig": {"temperature": 0}}}
    wrapped = code_assist.wrap_count_tokens(nested, "m")
    assert set(wrapped["request"]) == {"model", "contents"}
    first, *rest = wrapped["request"]["contents"]
    assert rest == BODY["contents"]
    assert first == {"role": "user", "parts": [{"text": "Be brief."}, {"text": json.dumps(tools, separators=(",", ":"))}]}


def test_unwrap_body():
    inner = stream_chunks("gemini-2.5-pro")[-1]
    out = json.loads(code_assist.unwrap_body(json.dumps({"response": inner, "traceId": "tr-1"}).encode()))
    assert out == {**inner}  # it had a responseId already
    bare = {k: v for k, v in inner.items() if k != "responseId"}
    out = json.loads(code_assist.unwrap_body(json.dumps({"response": bare, "traceId": "tr-1"}).encode()))
    assert out == {**bare, "responseId": "tr-1"}
    # Not wrapped (countTokens, errors) or not JSON: as it came.
    for raw in (b'{"totalTokens": 3}', b'{"error": {"code": 429}}', b"oops"):
        assert code_assist.unwrap_body(raw) == raw


def test_project_from_load():
    assert code_assist.project_from_load(b'{"cloudaicompanionProject": "p-1", "currentTier": {}}') == "p-1"
    assert code_assist.project_from_load(b'{"cloudaicompanionProject": {"id": "p-2"}}') == "p-2"
    assert code_assist.project_from_load(b'{"currentTier": {}}') is None
    assert code_assist.project_from_load(b"[]") is None


@pytest.mark.parametrize("sse", [True, False], ids=["sse", "json-array"])
def test_stream_unwrapped_split_at_every_byte(sse: bool):
    chunks = stream_chunks("gemini-2.5-pro")
    raw = wrapped_sse(chunks)
    for cut in range(1, len(raw)):
        unwrapper = code_assist.StreamUnwrapper(sse=sse)
        out = unwrapper.feed(raw[:cut]) + unwrapper.feed(raw[cut:]) + unwrapper.end()
        if sse:
            events = [json.loads(line[6:]) for line in out.split(b"\r\n\r\n") if line]
        else:
            events = json.loads(out)
        assert [{k: v for k, v in e.items()} for e in events] == chunks, cut
    # Byte by byte: each event goes out as soon as it is whole, never held to the end.
    unwrapper = code_assist.StreamUnwrapper(sse=sse)
    first_event_end = raw.index(b"\r\n\r\n") + 4
    sent = b"".join(unwrapper.feed(raw[i:i + 1]) for i in range(first_event_end))
    assert sent and json.loads(sent[6:] if sse else sent[1:]) == chunks[0]


@pytest.mark.parametrize("sse", [True, False], ids=["sse", "json-array"])
def test_unwrapped_stream_reads_as_native_usage(sse: bool):
    unwrapper = code_assist.StreamUnwrapper(sse=sse)
    out = unwrapper.feed(wrapped_sse(stream_chunks("m"))) + unwrapper.end()
    tap = StreamUsage()
    tap.feed(out)
    assert {k: getattr(tap.usage, k) for k in RECORDED} == RECORDED
    assert tap.model == "m"


def test_empty_stream_and_errors():
    unwrapper = code_assist.StreamUnwrapper(sse=False)
    assert unwrapper.feed(b": keep-alive\r\n\r\n") == b"" and unwrapper.end() == b"[]"
    unwrapper = code_assist.StreamUnwrapper(sse=True)
    error = {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    out = unwrapper.feed(b"data: " + json.dumps(error).encode() + b"\n\n")
    assert json.loads(out[6:]) == error and unwrapper.end() == b""
