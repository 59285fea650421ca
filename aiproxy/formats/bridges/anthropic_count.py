"""Anthropic clients' `count_tokens` on targets without a count method: an estimate, made here.

OpenAI's Chat Completions and Responses APIs count nothing before a call,
and their tokenizer (tiktoken) loads its BPE tables from the internet at first
use, which a gateway that sends nothing but the proxied calls cannot do. So the
pairs onto them answer with this estimate of the Messages body, pure and
offline, written to err high (a client checks a context limit with it):

- text (system, messages, tool definitions, tool inputs and results) is cut
  into the pieces a BPE tokenizer's pre-split makes: letter runs (split again
  at a lower-to-upper case change, as in `readFile`), digit runs, symbol runs
  and whitespace. A Latin letter run costs one token per 6 letters (rounded
  up: most English words are one token), other scripts one per 3 letters, and
  Chinese, Japanese and Korean characters one each; digits one per 3; symbols
  one per 2; whitespace one per run, but a single space, which joins the word
  after it;
- each message adds `MESSAGE_TOKENS` (its role and separators), the answer's
  start `REPLY_TOKENS`, each tool `TOOL_TOKENS` beyond its name, description
  and JSON Schema text;
- an image, or a document sent as data (a PDF), counts `MEDIA_TOKENS` flat:
  its pixels and pages are not read; a plain-text document counts as its text;
- thinking blocks count nothing: they do not cross to another vendor's model.

Bad input is refused as `/v1/messages` would refuse it: `local_count` runs
the pair's own request translation first (its Untranslatable is the 400).
"""

from __future__ import annotations

import re
from typing import Any, Callable

import orjson

from .base import LocalCount, RequestOptions, TranslatedRequest

# Anthropic's own figure for a full-size image (about 1.15 megapixels) is
# about 1,600 tokens; OpenAI's for a 1024 x 1024 one in high detail is 765.
# The larger, so that a client's context check stays on the safe side.
MEDIA_TOKENS = 1600
MESSAGE_TOKENS = 3
REPLY_TOKENS = 3
TOOL_TOKENS = 8

_PIECES = re.compile(r"[^\W\d_]+|\d+|\s+|(?:[^\w\s]|_)+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
# Chinese, Japanese and Korean: a token a character, or near it.
_CJK = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff00-\uffef]")


def _ceil(n: int, per: int) -> int:
    return -(-n // per)


def text_tokens(text: str) -> int:
    """The estimate for one text, by the rule above."""
    tokens = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        first = piece[0]
        if first.isspace():
            tokens += 0 if piece == " " else 1
        elif first.isdigit():
            tokens += _ceil(len(piece), 3)
        elif first.isalpha():
            if piece.isascii():
                tokens += sum(_ceil(len(part), 6) for part in _CAMEL.split(piece))
            else:
                cjk = len(_CJK.findall(piece))
                tokens += cjk + _ceil(len(piece) - cjk, 3)
        else:
            tokens += _ceil(len(piece), 2)
    return tokens


def _json_tokens(value: Any) -> int:
    return text_tokens(orjson.dumps(value).decode()) if value is not None else 0


def _content(content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        return sum(_block(block) for block in content if isinstance(block, dict))
    return 0


def _block(block: dict[str, Any]) -> int:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return text_tokens(text) if isinstance(text, str) else 0
    if kind in ("thinking", "redacted_thinking"):
        return 0
    if kind in ("image", "document"):
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text" and isinstance(source.get("data"), str):
            return text_tokens(source["data"])
        return MEDIA_TOKENS
    if kind == "tool_use":
        name = block.get("name")
        return (text_tokens(name) if isinstance(name, str) else 0) + _json_tokens(block.get("input"))
    if kind == "tool_result":
        return _content(block.get("content"))
    return _json_tokens(block)  # anything else, as the JSON it is


def _tool(tool: dict[str, Any]) -> int:
    tokens = TOOL_TOKENS
    for field in ("name", "description"):
        if isinstance(tool.get(field), str):
            tokens += text_tokens(tool[field])
    return tokens + _json_tokens(tool.get("input_schema"))


def estimate(body: dict[str, Any]) -> int:
    """The input tokens of a Messages body, estimated (see the module's rule)."""
    tokens = _content(body.get("system"))
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                tokens += MESSAGE_TOKENS + _content(message.get("content"))
        tokens += REPLY_TOKENS
    tools = body.get("tools")
    if isinstance(tools, list):
        tokens += sum(_tool(tool) for tool in tools if isinstance(tool, dict))
    return tokens


def answer(tokens: int) -> bytes:
    """Anthropic's count_tokens answer."""
    return orjson.dumps({"input_tokens": tokens})


def local_count(request: Callable[[dict[str, Any], RequestOptions], TranslatedRequest]) -> LocalCount:
    """The estimate as a pair's count, after the pair's own request check."""

    def count(body: dict[str, Any], options: RequestOptions) -> bytes:
        request(body, options)  # raises Untranslatable for what /v1/messages would refuse
        return answer(estimate(body))

    return LocalCount(count)
