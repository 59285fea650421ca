"""Which account types the relay reaches through a translator, and the translated call it hands an adapter."""

from __future__ import annotations

import orjson
import pytest

from aiproxy.accounts import ACCOUNT_TYPES
from aiproxy.bridging import BridgedTap, Crossing, bridged_call, bridged_types
from aiproxy.formats import anthropic, openai_responses, wire
from aiproxy.formats.bridges import registry
from aiproxy.formats.bridges.base import Untranslatable
from aiproxy.formats.usage import Usage
from aiproxy.model_limits import OutputCaps
from aiproxy.testing.openai import chat_stream

ASK = {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def test_anthropic_clients_reach_every_openai_and_gemini_type_and_no_claude_one():
    table = bridged_types(ACCOUNT_TYPES)
    reached = table[wire.ANTHROPIC_MESSAGES]
    assert set(reached) == {"openai", "azure-openai", "openai-responses", "gemini-api", "gemini-oauth"}
    assert {t.platform for t in reached.values()} == {"openai", "gemini"}
    # openai speaks chat and Responses: Anthropic clients go by chat (also with chat_only).
    assert reached["openai"].bridge({}) is registry.BRIDGES[(wire.ANTHROPIC_MESSAGES, wire.OPENAI_CHAT)]
    assert reached["openai"].bridge({"chat_only": True}).upstream == wire.OPENAI_CHAT
    # openai-responses serves the Responses path only, which its pair takes.
    assert reached["openai-responses"].bridge({}).upstream == wire.OPENAI_RESPONSES


def test_openai_and_gemini_clients_reach_every_other_type_and_a_narrowed_openai_account():
    table = bridged_types(ACCOUNT_TYPES)
    claude = {"claude-console", "claude-official", "ccr", "bedrock"}
    assert set(table[wire.OPENAI_CHAT]) == claude | {"gemini-api", "gemini-oauth", "openai-responses", "openai",
                                                     "azure-openai"}
    assert set(table[wire.OPENAI_RESPONSES]) == claude | {"gemini-api", "gemini-oauth", "openai", "azure-openai"}
    assert set(table[wire.GEMINI]) == claude | {"openai", "azure-openai", "openai-responses"}
    chat, responses = table[wire.OPENAI_CHAT], table[wire.OPENAI_RESPONSES]
    # Per account: an openai account speaks both OpenAI formats (native), unless narrowed to chat.
    assert chat["openai"].crossing({}) is None and responses["openai"].crossing({}) is None
    narrowed = responses["openai"].crossing({"chat_only": True})
    assert narrowed is registry.BRIDGES[(wire.OPENAI_RESPONSES, wire.OPENAI_CHAT)]
    # An openai-responses account serves chat clients through Messages (its one path is the Responses one).
    assert chat["openai-responses"].crossing({}) is registry.BRIDGES[(wire.OPENAI_CHAT, wire.OPENAI_RESPONSES)]
    assert chat["claude-console"].crossing({}) is registry.BRIDGES[(wire.OPENAI_CHAT, wire.ANTHROPIC_MESSAGES)]


def test_the_codex_backend_drops_what_it_refuses_and_a_key_does_not():
    drop = bridged_types(ACCOUNT_TYPES)[wire.ANTHROPIC_MESSAGES]["openai-responses"].drop
    assert drop is not None
    assert drop({"access_token": "t"}) == {"max_output_tokens", "temperature", "top_p", "safety_identifier"}
    assert drop({"api_key": "sk"}) == frozenset()


def test_the_call_is_in_the_target_format_with_its_header_list():
    bridge = registry.BRIDGES[(wire.ANTHROPIC_MESSAGES, wire.GEMINI)]
    headers = [(b"anthropic-version", b"2023-06-01"), (b"content-type", b"application/json"),
               (b"x-goog-api-client", b"x"), (b"x-stainless-lang", b"python")]
    call, _ = bridged_call(bridge, ASK, headers, "POST", "gemini-2.5-flash", frozenset())
    assert call.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent" and call.query == "alt=sse"
    assert call.stream and call.model == "gemini-2.5-flash" and call.json is not None and "contents" in call.json
    assert call.headers == [(b"content-type", b"application/json"), (b"x-goog-api-client", b"x")]


def test_the_call_carries_the_upstream_models_cap():
    # Looked up by the upstream's name (after the account's mapping), not the client's.
    bridge = registry.BRIDGES[(wire.ANTHROPIC_MESSAGES, wire.OPENAI_CHAT)]
    ask = {**ASK, "max_tokens": 64000}
    caps = OutputCaps({"gpt-4o*": 16384, "claude-*": 100})
    assert bridged_call(bridge, ask, [], "POST", "gpt-4o", frozenset(), caps)[0].json["max_completion_tokens"] == 16384
    assert bridged_call(bridge, ask, [], "POST", "my-model", frozenset(), caps)[0].json["max_completion_tokens"] == 64000
    assert bridged_call(bridge, ask, [], "POST", "gpt-4o", frozenset())[0].json["max_completion_tokens"] == 64000


def test_the_tap_reads_the_translated_stream():
    bridge = registry.BRIDGES[(wire.ANTHROPIC_MESSAGES, wire.OPENAI_CHAT)]
    route_tap = anthropic.StreamUsage()
    tap = BridgedTap(bridge.stream("claude-sonnet-4-5"), route_tap)
    out = b"".join(tap.feed(piece) for piece in chat_stream("gpt-4.1", include_usage=True)) + tap.end()
    assert b"event: message_stop" in out and tap.complete and tap.model == "claude-sonnet-4-5"
    assert (tap.usage.input_tokens, tap.usage.output_tokens, tap.usage.cache_read_tokens) == (20, 7, 10)
    # The usage is the translator's own, which counts in the client's terms.
    assert tap.usage == route_tap.usage


def test_the_tap_hands_on_the_translated_answers_response_id():
    # A Responses client's stream, translated: the route's tap reads the id, the relay asks the bridged tap.
    class Passing:
        usage = Usage()

        def feed(self, chunk: bytes) -> bytes:
            return chunk

        def end(self) -> bytes:
            return b""

    tap = BridgedTap(Passing(), openai_responses.StreamTap())
    assert tap.response_id is None
    tap.feed(b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_gw_1",'
             b'"status":"completed","usage":{"input_tokens":1,"output_tokens":1}}}\n\n')
    assert tap.response_id == "resp_gw_1" and tap.complete
    assert BridgedTap(Passing(), anthropic.StreamUsage()).response_id is None  # a tap that has none


def test_a_count_call_is_the_pairs_count_request_and_its_answer_the_pairs_count_answer():
    gemini = registry.BRIDGES[(wire.ANTHROPIC_MESSAGES, wire.GEMINI)]
    call, crossing = bridged_call(gemini, ASK, [], "POST", "gemini-2.5-flash", frozenset(), count=True)
    assert (call.path, call.query, call.stream) == ("/v1beta/models/gemini-2.5-flash:countTokens", "", False)
    assert call.json is not None and call.json["generateContentRequest"]["model"] == "models/gemini-2.5-flash"
    assert crossing == Crossing(gemini, None, False, counting=True)
    assert orjson.loads(crossing.answer(b'{"totalTokens": 12}')) == {"input_tokens": 12}
    # A pair that counts locally has no count request to send.
    chat = registry.BRIDGES[(wire.ANTHROPIC_MESSAGES, wire.OPENAI_CHAT)]
    with pytest.raises(Untranslatable):
        bridged_call(chat, ASK, [], "POST", "gpt-4.1", frozenset(), count=True)


def test_the_types_known_models_come_along():
    reached = bridged_types(ACCOUNT_TYPES)[wire.ANTHROPIC_MESSAGES]
    assert reached["gemini-oauth"].models == ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")
    assert reached["gemini-api"].models == ()
