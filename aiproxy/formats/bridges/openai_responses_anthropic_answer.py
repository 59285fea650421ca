"""OpenAI Responses clients on Anthropic accounts: the whole answer, errors, and what the stream shares.

An Anthropic message becomes a `response` object (id `resp_` + the message id's
own part, one per answer): its blocks become output items in order. Text
blocks in a row make one `message` item (one `output_text` part each);
`thinking` and `redacted_thinking` blocks each a `reasoning` item; `tool_use`
blocks a `function_call` item, or, for the tools the request offered as
Codex's `type: custom` tools, a `custom_tool_call` (its `input` the tool's one
string argument, `CUSTOM_INPUT`), for the `local_shell` tool a
`local_shell_call`, for a client-run `tool_search` a `tool_search_call`; a
tool of a `namespace` (named `<namespace>__<name>` on Anthropic) is called by
its own name with its `namespace`. Citations and server-tool blocks are dropped: the request
offers no server tool, and citations have no Responses counterpart here.

Thinking travels in the reasoning item's `encrypted_content`, which clients
send back unchanged: `THINKING_PREFIX` + the block as base64url JSON, so the
next request restores the exact Anthropic block (with thinking on, Anthropic
refuses a tool loop whose last assistant turn lost it). Anything else in an
`encrypted_content` is another vendor's and is never sent to Anthropic. The
thinking text is also the item's `summary` only when the client asked for
reasoning summaries (`ReplyContext.summary`).

What the answer needs to know of the request (which tools were custom or
namespaced, whether `local_shell` or `tool_search` was offered, whether
summaries were asked for) is a
`ReplyContext`, made from the client's body by `reply_context`; without one
every tool call is a `function_call` and no summary is given.

Usage: `input_tokens` counts all input (Anthropic's uncached input + cache
writes + cache reads), `cached_tokens` the cache reads, `cache_write_tokens`
the writes; `reasoning_tokens` is 0 (Anthropic counts thinking inside its
output tokens and does not split it).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson

from .. import anthropic, openai_chat
from ..error_message import error_message
from ..usage import Usage

# Marks an encrypted_content as the gateway's own carrier of one Anthropic
# thinking block (never OpenAI's, which is opaque base64 without a colon).
THINKING_PREFIX = "aiproxy-anthropic-thinking-v1:"
# The one string argument a Codex `type: custom` tool has on Anthropic.
CUSTOM_INPUT = "input"
# The Anthropic tools standing for Responses' built-in `local_shell` and client-run `tool_search`.
LOCAL_SHELL = "local_shell"
TOOL_SEARCH = "tool_search"
# Joins a namespace's name and its tool's into one Anthropic tool name (Anthropic
# tool names take letters, digits, `_` and `-`).
NAMESPACE_SEPARATOR = "__"

# Anthropic stop reasons that mean the answer was cut, with the reason Responses gives.
_INCOMPLETE = {
    "max_tokens": "max_output_tokens",
    "model_context_window_exceeded": "max_output_tokens",
    "refusal": "content_filter",
}


@dataclass(frozen=True)
class ReplyContext:
    """What of the client's request shapes its answer."""

    custom_tools: frozenset[str] = field(default_factory=frozenset)  # Anthropic names of `type: custom` tools
    local_shell: bool = False  # the `local_shell` built-in tool was offered
    tool_search: bool = False  # a client-run `tool_search` was offered
    # Anthropic name -> (namespace, the tool's own name), for the tools of namespaces.
    namespaced: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    summary: bool = False  # `reasoning.summary` asked for: the thinking text is shown as the summary


# --- thinking blocks in encrypted_content ------------------------------------


def encode_thinking(block: dict[str, Any]) -> str:
    """A thinking or redacted_thinking block as the reasoning item's encrypted_content."""
    if block.get("type") == "redacted_thinking":
        kept: dict[str, Any] = {"type": "redacted_thinking", "data": _text(block.get("data"))}
    else:
        kept = {"type": "thinking", "thinking": _text(block.get("thinking")), "signature": _text(block.get("signature"))}
    return THINKING_PREFIX + base64.urlsafe_b64encode(orjson.dumps(kept)).decode()


def decode_thinking(value: Any) -> dict[str, Any] | None:
    """The Anthropic block a gateway-made encrypted_content carries; None for anything else."""
    if not isinstance(value, str) or not value.startswith(THINKING_PREFIX):
        return None
    try:
        block = orjson.loads(base64.urlsafe_b64decode(value[len(THINKING_PREFIX):].encode()))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(block, dict):
        return None
    if block.get("type") == "thinking" and isinstance(block.get("thinking"), str) \
            and isinstance(block.get("signature"), str) and block["signature"]:
        return {"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]}
    if block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str) and block["data"]:
        return {"type": "redacted_thinking", "data": block["data"]}
    return None


# --- ids, usage, status --------------------------------------------------------


def response_id(message_id: Any) -> str:
    """The response's id, made from the Anthropic message id (random when there is none)."""
    if isinstance(message_id, str) and message_id:
        return "resp_" + message_id.removeprefix("msg_")
    return "resp_" + secrets.token_hex(12)


def item_id(kind: str, response: str, index: int) -> str:
    """An output item's id: its kind's prefix, the response's own part, its output index."""
    return f"{kind}_{response.removeprefix('resp_')}_{index}"


def usage_fields(usage: Usage) -> dict[str, Any]:
    """Usage in Responses' terms: input includes cached input."""
    total_input = usage.input_tokens + usage.cache_creation_tokens + usage.cache_read_tokens
    return {
        "input_tokens": total_input,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens,
                                 "cache_write_tokens": usage.cache_creation_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total_input + usage.output_tokens,
    }


def status_of(stop_reason: Any) -> tuple[str, dict[str, str] | None]:
    """The response's status and incomplete_details for an Anthropic stop reason."""
    reason = _INCOMPLETE.get(stop_reason) if isinstance(stop_reason, str) else None
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def response_object(
    *, id: str, model: str, created_at: int, status: str, output: list[dict[str, Any]],
    usage: Usage | None, incomplete: dict[str, str] | None = None, error: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Responses `response` object, with the fields the SDK types require."""
    return {
        "id": id, "object": "response", "created_at": created_at, "status": status, "model": model,
        "output": output, "error": error, "incomplete_details": incomplete, "instructions": None,
        "metadata": {}, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "usage": usage_fields(usage) if usage is not None else None,
    }


# --- blocks as items -------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def message_item(id: str, texts: list[str], status: str = "completed") -> dict[str, Any]:
    return {"id": id, "type": "message", "role": "assistant", "status": status,
            "content": [output_text(text) for text in texts]}


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_item(id: str, block: dict[str, Any], context: ReplyContext) -> dict[str, Any]:
    text = _text(block.get("thinking")) if block.get("type") == "thinking" else ""
    summary = [{"type": "summary_text", "text": text}] if context.summary and text else []
    return {"id": id, "type": "reasoning", "summary": summary, "encrypted_content": encode_thinking(block)}


def tool_kind(name: str, context: ReplyContext) -> str:
    """The output item type a tool_use of `name` becomes."""
    if name in context.custom_tools:
        return "custom_tool_call"
    if name == LOCAL_SHELL and context.local_shell:
        return "local_shell_call"
    if name == TOOL_SEARCH and context.tool_search:
        return "tool_search_call"
    return "function_call"


_ID_PREFIXES = {"custom_tool_call": "ctc", "local_shell_call": "lsh", "tool_search_call": "tsc", "function_call": "fc"}


def call_item(response: str, index: int, call_id: str, name: str, tool_input: Any, context: ReplyContext,
              status: str = "completed") -> dict[str, Any]:
    """A tool_use block (its whole input) as the output item its tool's kind makes."""
    kind = tool_kind(name, context)
    id = item_id(_ID_PREFIXES[kind], response, index)
    arguments: dict[str, Any] = tool_input if isinstance(tool_input, dict) else {}
    if kind == "local_shell_call":
        return {"id": id, "type": kind, "call_id": call_id, "status": status, "action": shell_action(arguments)}
    if kind == "tool_search_call":
        return {"id": id, "type": kind, "call_id": call_id, "execution": "client", "arguments": arguments,
                "status": status}
    item: dict[str, Any] = {"id": id, "type": kind, "call_id": call_id, "name": name}
    if name in context.namespaced:
        item["namespace"], item["name"] = context.namespaced[name]
    if kind == "custom_tool_call":
        raw = arguments.get(CUSTOM_INPUT)
        # A model that ignored the one-argument schema: its JSON, rather than nothing.
        item["input"] = raw if isinstance(raw, str) else (orjson.dumps(arguments).decode() if arguments else "")
    else:
        item.update(arguments=orjson.dumps(arguments).decode(), status=status)
    return item


def shell_action(arguments: dict[str, Any]) -> dict[str, Any]:
    """The local_shell tool's arguments (see the request module's schema) as a local_shell_call action."""
    command = arguments.get("command")
    timeout = arguments.get("timeout_ms")
    workdir = arguments.get("workdir")
    return {
        "type": "exec",
        "command": [part for part in command if isinstance(part, str)] if isinstance(command, list) else [],
        "timeout_ms": timeout if isinstance(timeout, int) and not isinstance(timeout, bool) else None,
        "working_directory": workdir if isinstance(workdir, str) else None,
        "env": {},
        "user": None,
    }


def output_items(content: list[Any], response: str, context: ReplyContext) -> list[dict[str, Any]]:
    """An Anthropic message's content blocks as Responses output items."""
    items: list[dict[str, Any]] = []
    texts: list[str] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(block, dict) or kind not in ("text", "thinking", "redacted_thinking", "tool_use"):
            continue  # server-tool blocks and anything newer: nothing the client could use
        if kind == "text":
            if _text(block.get("text")):
                texts.append(block["text"])
            continue
        if texts:
            items.append(message_item(item_id("msg", response, len(items)), texts))
            texts = []
        if kind == "tool_use":
            items.append(call_item(response, len(items), _text(block.get("id")), _text(block.get("name")),
                                   block.get("input"), context))
        else:
            items.append(reasoning_item(item_id("rs", response, len(items)), block, context))
    if texts:
        items.append(message_item(item_id("msg", response, len(items)), texts))
    return items


def answer(body: bytes, model: str, context: ReplyContext | None = None) -> bytes:
    """An Anthropic message (2xx) as a Responses response object; ValueError if it is none."""
    data = orjson.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("content", []), list):
        raise ValueError("the upstream's answer is not an Anthropic message")
    id = response_id(data.get("id"))
    status, incomplete = status_of(data.get("stop_reason"))
    return orjson.dumps(response_object(
        id=id, model=model, created_at=int(time.time()), status=status, incomplete=incomplete,
        output=output_items(data.get("content") or [], id, context or ReplyContext()),
        usage=anthropic.usage_from_message(data),
    ))


def error(status: int, body: bytes) -> bytes:
    """An Anthropic error body in OpenAI's error shape, same status."""
    return openai_chat.error_body(status, error_message(body) or f"the upstream answered {status}")
