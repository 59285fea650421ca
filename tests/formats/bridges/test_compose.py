"""Two pairs through the Messages pivot: order of the steps, each way."""

from __future__ import annotations

from typing import Any

import pytest

from aiproxy.formats.bridges.base import Bridge, RequestOptions, TranslatedRequest
from aiproxy.formats.bridges.compose import compose
from aiproxy.formats.usage import Usage


class _Tagging:
    # A stream translator that marks what it passed on, and owes a tail at the end.
    def __init__(self, tag: bytes, usage: int) -> None:
        self.tag = tag
        self.usage = Usage(output_tokens=usage)

    def feed(self, chunk: bytes) -> bytes:
        return self.tag + b"(" + chunk + b")" if chunk else b""

    def end(self) -> bytes:
        return self.tag + b".end"


def _pair(client: Any, upstream: Any, tag: str, usage: int) -> Bridge:
    def request(data: dict[str, Any], options: RequestOptions) -> TranslatedRequest:
        return TranslatedRequest(body={"from": data, "by": tag, "model": options.model, "drop": sorted(options.drop),
                                       "stream": options.stream or data.get("stream") is True},
                                 path=f"/{tag}", stream=options.stream or data.get("stream") is True,
                                 reply=f"{tag}:{options.client_model}:{dict(options.client_query)}")

    return Bridge(
        client=client, upstream=upstream, request=request,
        answer=lambda body, reply: f"{tag}[{reply}]".encode() + b"<" + body + b">",
        error=lambda status, body: f"{tag}{status}".encode() + b"<" + body + b">",
        stream=lambda reply: _Tagging(f"{tag}[{reply}]".encode(), usage),
    )


CHAT_TO_MESSAGES = _pair("openai-chat", "anthropic-messages", "c2a", 7)
MESSAGES_TO_GEMINI = _pair("anthropic-messages", "gemini", "a2g", 3)


def test_the_request_goes_through_messages_and_only_the_target_step_drops_fields() -> None:
    bridge = compose(CHAT_TO_MESSAGES, MESSAGES_TO_GEMINI)
    assert (bridge.client, bridge.upstream) == ("openai-chat", "gemini")
    out = bridge.request({}, RequestOptions(model="gemini-2.5-pro", drop=frozenset({"x"}), stream=True))
    assert out.path == "/a2g" and out.stream
    assert out.body["by"] == "a2g" and out.body["drop"] == ["x"]
    middle = out.body["from"]
    assert middle["by"] == "c2a" and middle["drop"] == [] and middle["model"] == "gemini-2.5-pro"
    # The stream the client asked for outside its body reaches the target through the Messages body.
    assert middle["stream"] and out.body["stream"]


def test_each_step_gets_its_own_reply_back() -> None:
    bridge = compose(CHAT_TO_MESSAGES, MESSAGES_TO_GEMINI)
    out = bridge.request({}, RequestOptions(model="gemini-2.5-pro", client_model="gpt-4o",
                                            client_query=(("alt", "sse"),)))
    # The client's query is the client-side step's to read; the client's model both steps'.
    assert out.reply == ("c2a:gpt-4o:{'alt': 'sse'}", "a2g:gpt-4o:{}")
    assert bridge.answer(b"G", out.reply) == b"c2a[c2a:gpt-4o:{'alt': 'sse'}]<a2g[a2g:gpt-4o:{}]<G>>"
    assert bridge.error(429, b"E") == b"c2a429<a2g429<E>>"


def test_a_stream_runs_through_both_translators_and_ends_both() -> None:
    bridge = compose(CHAT_TO_MESSAGES, MESSAGES_TO_GEMINI)
    t = bridge.stream(("o", "i"))
    assert t.feed(b"1") == b"c2a[o](a2g[i](1))"
    assert t.feed(b"") == b""
    assert t.end() == b"c2a[o](a2g[i].end)c2a[o].end"
    assert t.usage.output_tokens == 7  # counted by the client-side translator


def test_only_pairs_through_messages_compose() -> None:
    with pytest.raises(ValueError):
        compose(MESSAGES_TO_GEMINI, CHAT_TO_MESSAGES)


def test_the_registry_has_every_crossing_direct_or_through_messages() -> None:
    from aiproxy.formats import wire
    from aiproxy.formats.bridges import registry

    formats = (wire.ANTHROPIC_MESSAGES, wire.OPENAI_CHAT, wire.OPENAI_RESPONSES, wire.GEMINI)
    assert set(registry.BRIDGES) == {(c, t) for c in formats for t in formats if c != t}
    for (client, target), bridge in registry.BRIDGES.items():
        assert (bridge.client, bridge.upstream) == (client, target)
        if wire.ANTHROPIC_MESSAGES in (client, target):
            assert bridge is registry.PAIRS[(client, target)]  # written by hand, never composed
    # A composed crossing runs the client's pair, then the target's: chat -> Messages -> Gemini.
    composed = registry.BRIDGES[(wire.OPENAI_CHAT, wire.GEMINI)]
    out = composed.request({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                           RequestOptions(model="gemini-2.5-pro", client_model="gpt-4o"))
    assert out.path == wire.GEMINI_GENERATE_PATH and out.body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert out.reply[1] == "gpt-4o"  # the Messages -> Gemini step's reply: the client's model
