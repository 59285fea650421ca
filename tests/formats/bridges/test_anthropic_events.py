"""The Anthropic event writer every Anthropic-client bridge shares."""

from __future__ import annotations

import orjson

from aiproxy.formats.anthropic import StreamUsage
from aiproxy.formats.bridges.anthropic_events import AnthropicEvents, message
from aiproxy.formats.sse import SSEParser
from aiproxy.formats.usage import Usage


def events(raw: bytes) -> list[tuple[str, dict]]:
    return [(e.event, orjson.loads(e.data)) for e in SSEParser().feed(raw)]


def test_a_text_then_tool_call_stream_has_the_sequence_clients_expect() -> None:
    w = AnthropicEvents("gpt-4o", id="msg_1")
    raw = w.start(Usage(input_tokens=0))
    raw += w.text("Hel") + w.text("lo")
    raw += w.tool_use("toolu_1", "get_weather") + w.tool_input('{"city":') + w.tool_input('"Paris"}')
    raw += w.finish("tool_use", Usage(input_tokens=7, cache_read_tokens=3, output_tokens=11))
    seen = events(raw)
    assert [name for name, _ in seen] == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]
    assert seen[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert seen[5][1]["index"] == 1 and seen[5][1]["content_block"]["name"] == "get_weather"
    assert seen[6][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"city":'}
    assert seen[9][1]["delta"]["stop_reason"] == "tool_use"
    # The gateway's own usage tap reads the exact totals from the final message_delta.
    tap = StreamUsage()
    for i in range(len(raw)):  # fed byte by byte
        tap.feed(raw[i:i + 1])
    assert (tap.usage.input_tokens, tap.usage.cache_read_tokens, tap.usage.output_tokens) == (7, 3, 11)
    assert tap.complete


def test_finish_and_start_happen_once_and_an_error_ends_the_stream() -> None:
    w = AnthropicEvents("m")
    raw = w.text("x") + w.finish("end_turn") + w.finish("end_turn") + w.start()
    assert [name for name, _ in events(raw)].count("message_stop") == 1
    assert [name for name, _ in events(raw)].count("message_start") == 1
    cut = AnthropicEvents("m")
    out = cut.text("partial") + cut.error(502, "upstream stream broke")
    assert events(out)[-1] == ("error", {"type": "error", "error": {"type": "api_error",
                                                                   "message": "upstream stream broke"}})
    assert cut.stopped and cut.finish("end_turn") == b""


def test_a_tool_fragment_outside_a_tool_block_is_not_sent() -> None:
    w = AnthropicEvents("m")
    assert w.tool_input('{"a":1}') == b""


def test_whole_message() -> None:
    body = orjson.loads(message(id="msg_2", model="m", content=[{"type": "text", "text": "hi"}],
                                stop_reason="end_turn", usage=Usage(input_tokens=1, output_tokens=2)))
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["usage"] == {"input_tokens": 1, "cache_creation_input_tokens": 0,
                             "cache_read_input_tokens": 0, "output_tokens": 2}


def test_a_signature_ends_a_thinking_block_or_opens_its_own() -> None:
    w = AnthropicEvents("m")
    raw = w.thinking("hm") + w.signature("sig-1") + w.text("x") + w.signature("sig-2") + w.finish("end_turn")
    seen = events(raw)
    assert seen[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert seen[3][1]["delta"] == {"type": "signature_delta", "signature": "sig-1"}
    # Not on the text block: a thinking block of its own, with no text.
    assert seen[8][1]["content_block"]["type"] == "thinking" and seen[8][1]["index"] == 2
    assert seen[9][1]["delta"] == {"type": "signature_delta", "signature": "sig-2"}
    fresh = AnthropicEvents("m")
    raw = fresh.thinking("a") + fresh.signature("s", new_block=True)
    assert [e["index"] for name, e in events(raw) if name == "content_block_start"] == [0, 1]
