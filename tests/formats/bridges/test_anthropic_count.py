"""The count_tokens estimate for targets that count nothing before a call (OpenAI chat, Responses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from aiproxy.formats.bridges import anthropic_openai_chat, anthropic_openai_responses
from aiproxy.formats.bridges.anthropic_count import (
    MEDIA_TOKENS,
    MESSAGE_TOKENS,
    REPLY_TOKENS,
    TOOL_TOKENS,
    estimate,
    text_tokens,
)
from aiproxy.formats.bridges.base import LocalCount, RequestOptions, Untranslatable

CLAUDE_CODE_REQUEST = Path(__file__).parents[2] / "fixtures" / "claude_code_messages_request.json"
OPTS = RequestOptions(model="gpt-4.1")


@pytest.mark.parametrize(("text", "tokens"), [
    ("", 0),
    ("hello", 1),
    ("hello world", 2),  # the space joins the word after it
    ("internationalization", 4),  # 20 letters, 6 a token
    ("readFileSync", 3),  # split at each lower-to-upper change: read, File, Sync
    ("1234567", 3),  # digits three a token
    ('{"a": 1}', 1 + 1 + 1 + 1 + 1),  # {"  a  ":  (space)  1  } -> symbol runs, letter, digit
    ("line\n\n    indented", 4),  # a whitespace run other than one space is a token
    ("你好世界", 4),  # a token a character
    ("привет", 2),  # other scripts, 3 letters a token
])
def test_text_tokens(text: str, tokens: int) -> None:
    assert text_tokens(text) == tokens


def test_each_part_of_the_body_counts_by_its_rule() -> None:
    base: dict[str, Any] = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hello"}]}
    assert estimate(base) == MESSAGE_TOKENS + 1 + REPLY_TOKENS
    assert estimate({**base, "system": "Be brief."}) == estimate(base) + text_tokens("Be brief.")
    assert estimate({**base, "system": [{"type": "text", "text": "Be brief."}]}) == estimate(base) + 3
    tool = {"name": "read_file", "description": "Reads a file", "input_schema": {"type": "object"}}
    assert estimate({**base, "tools": [tool]}) == estimate(base) + TOOL_TOKENS + text_tokens("read_file") + \
        text_tokens("Reads a file") + text_tokens('{"type":"object"}')

    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR" * 5000}}
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE" * 9}}
    note = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "two words"}}
    thinking = {"type": "thinking", "thinking": "a long thought " * 100, "signature": "sig"}

    def with_blocks(*blocks: dict[str, Any]) -> int:
        return estimate({**base, "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"},
                                                                             *blocks]}]})

    assert with_blocks(image) == estimate(base) + MEDIA_TOKENS  # flat, whatever its size
    assert with_blocks(pdf) == estimate(base) + MEDIA_TOKENS
    assert with_blocks(note) == estimate(base) + 2
    assert with_blocks(thinking) == estimate(base)  # does not cross to another vendor


def test_tool_calls_and_results_count() -> None:
    body = {"model": "m", "messages": [
        {"role": "user", "content": "read it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "read_file",
                                           "input": {"path": "README.md"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": "hello there"}]}]},
    ]}
    call = text_tokens("read_file") + text_tokens(orjson.dumps({"path": "README.md"}).decode())
    assert estimate(body) == 3 * MESSAGE_TOKENS + REPLY_TOKENS + text_tokens("read it") + call + 2


# OpenAI's o200k_base tokenizer on the JSON text of the fixture's system,
# messages and tools (json.dumps, default separators), measured once offline;
# cl100k_base gave 13492. Claude's own tokenizer counts more, not less.
O200K_CLAUDE_CODE = 13488


def test_claude_codes_own_request_counts_a_little_above_a_tokenizer() -> None:
    body = json.loads(CLAUDE_CODE_REQUEST.read_text())
    text = json.dumps({k: body[k] for k in ("system", "messages", "tools")})
    assert O200K_CLAUDE_CODE <= text_tokens(text) <= 1.3 * O200K_CLAUDE_CODE
    assert O200K_CLAUDE_CODE <= estimate(body) <= 1.3 * O200K_CLAUDE_CODE


@pytest.mark.parametrize("pair", [anthropic_openai_chat, anthropic_openai_responses], ids=["chat", "responses"])
def test_the_openai_pairs_count_locally_and_refuse_what_messages_refuses(pair: Any) -> None:
    count = pair.BRIDGE.count
    assert isinstance(count, LocalCount)
    body = {"model": "claude-sonnet-4-5", "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]}
    assert orjson.loads(count.answer(body, OPTS)) == {"input_tokens": estimate(body)}
    bad = {**body, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]},
                                {"role": "robot", "content": "?"}]}
    with pytest.raises(Untranslatable):
        pair.request(bad, OPTS)
    with pytest.raises(Untranslatable):
        count.answer(bad, OPTS)
