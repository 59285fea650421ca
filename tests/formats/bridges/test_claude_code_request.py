"""A real Claude Code request (2.1.197, `claude -p`, 24 tools) through every Anthropic-client pair.

The fixture is what the CLI sent, with its prompt and tool descriptions
replaced by filler of the same length (tests/fixtures/README.md): the shape,
the schemas and the size (~75 KB) are Claude Code's own. Every pair must
translate it without refusing anything, streaming and not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiproxy.formats.bridges import anthropic_gemini, anthropic_openai_chat, anthropic_openai_responses
from aiproxy.formats.bridges.base import Bridge, RequestOptions, Untranslatable

FIXTURE = Path(__file__).parents[2] / "fixtures" / "claude_code_messages_request.json"
CODEX_DROP = frozenset({"max_output_tokens", "temperature", "top_p", "safety_identifier"})

PAIRS = [
    pytest.param(anthropic_openai_chat.BRIDGE, "gpt-4o", frozenset(), id="openai-chat"),
    pytest.param(anthropic_openai_chat.BRIDGE, "gpt-5-codex", frozenset(), id="openai-chat-reasoning"),
    pytest.param(anthropic_openai_responses.BRIDGE, "gpt-5-codex", frozenset(), id="responses"),
    pytest.param(anthropic_openai_responses.BRIDGE, "gpt-5-codex", CODEX_DROP, id="codex-backend"),
    pytest.param(anthropic_gemini.BRIDGE, "gemini-2.5-pro", frozenset(), id="gemini"),
]


@pytest.mark.parametrize("bridge, model, drop", PAIRS)
@pytest.mark.parametrize("stream", [True, False])
def test_claude_codes_request_translates(bridge: Bridge, model: str, drop: frozenset[str], stream: bool) -> None:
    body = json.loads(FIXTURE.read_text())
    body["stream"] = stream
    assert len(body["tools"]) == 24 and body["thinking"] == {"type": "adaptive"}
    translated = bridge.request(body, RequestOptions(model=model, drop=drop))
    assert translated.stream is stream
    out = json.dumps(translated.body)
    # Every tool crossed, and nothing of the Anthropic-only fields leaked.
    for name in ("Bash", "Read", "Edit", "Write", "Agent"):
        assert f'"{name}"' in out
    for field in ("cache_control", "context_management", "output_config", "anthropic-beta"):
        assert field not in out
    assert set(drop).isdisjoint(translated.body)
    # The system message Claude Code puts after the user's turn is shown to the model.
    assert body["messages"][1]["role"] == "system"
    assert body["messages"][1]["content"] in out


@pytest.mark.parametrize("bridge, model, drop", PAIRS)
def test_a_system_message_cleared_by_a_later_user_turn_is_not_sent(
    bridge: Bridge, model: str, drop: frozenset[str]
) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [
        {"role": "user", "content": "first"},
        {"role": "system", "content": "only for the first turn", "clear_at": "next_user_message"},
        {"role": "system", "content": [{"type": "text", "text": "always shown"}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]}
    out = json.dumps(bridge.request(body, RequestOptions(model=model, drop=drop)).body)
    assert "always shown" in out and "only for the first turn" not in out
    # Blocks that add or remove tools mid-conversation have no counterpart: refused, named.
    body["messages"][2]["content"].append({"type": "tool_addition", "tools": []})
    with pytest.raises(Untranslatable) as refused:
        bridge.request(body, RequestOptions(model=model, drop=drop))
    assert refused.value.field == "messages[2].content[1]"
