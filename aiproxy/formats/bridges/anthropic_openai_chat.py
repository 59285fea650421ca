"""Anthropic Messages clients on OpenAI Chat Completions upstreams: the request.

Serves `openai` and `azure-openai` accounts and OpenAI-compatible chat-only
servers. The answer and error rewrites live in `anthropic_openai_chat_answer`,
the stream translator in `anthropic_openai_chat_stream`; `BRIDGE` joins them.

What is dropped, not refused, because it changes nothing essential the target
could honour (every other unknown Anthropic field is dropped as well, never
forwarded):
- `cache_control` (top level and on blocks), `citations`, image `transformations`:
  Chat caches prefixes by itself and has no citations;
- thinking and redacted_thinking blocks: their signatures are Anthropic's,
  valid only there;
- `top_k`: Chat has no such sampler;
- `service_tier`, `speed`, `inference_geo`, `diagnostics`, `context_management`:
  Anthropic's own serving options, and a system message's per-turn `output_config`;
- on reasoning models (`_REASONING`): `temperature` and `top_p` other than 1 and
  `stop`, which they reject; on the others, `thinking` and `output_config.effort`,
  which they cannot use (their `reasoning_effort` is refused).
Refused (Untranslatable) because the answer would change: server tools,
`mcp_servers`, `container`, Files-API sources, PDF URLs, unknown block types.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .. import anthropic, openai_chat, wire
from .anthropic_count import local_count
from .anthropic_openai_chat_answer import answer, error
from .anthropic_openai_chat_stream import ChatToAnthropicStream
from .anthropic_system import last_user_index, system_message_text
from .base import Bridge, RequestOptions, TranslatedRequest, Untranslatable, expect_object, expect_string

# o-series and gpt-5 reasoning models (optionally behind a `vendor/` prefix, as
# OpenAI-compatible routers name them): max_completion_tokens only, no
# sampling other than the default, no `stop`.
_REASONING = re.compile(r"^(?:[\w.-]+/)?(?:o1|o3|o4|gpt-5)(?:$|[-.])", re.IGNORECASE)
# Anthropic options the Chat API has no counterpart for: a 400, naming them.
_REFUSED = ("mcp_servers", "container")
# Chat's limits: function names and the number of stop sequences.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_STOP = 4
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
# thinking.budget_tokens -> reasoning_effort: the budget's upper bound per level.
_BUDGET_EFFORT = ((4096, "low"), (16384, "medium"))


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING.match(model))


def _text_of(blocks: Any, where: str) -> str:
    """A string or a list of text blocks, as one string (system, tool results)."""
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        raise Untranslatable(where, "must be a string or a list of text blocks")
    texts = []
    for i, block in enumerate(blocks):
        block = expect_object(block, f"{where}[{i}]")
        if block.get("type") != "text":
            raise Untranslatable(f"{where}[{i}]", f"block type {block.get('type')!r} is not text")
        texts.append(expect_string(block.get("text"), f"{where}[{i}].text"))
    return "\n\n".join(texts)


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = expect_object(block.get("source"), f"{where}.source")
    kind = source.get("type")
    if kind == "base64":
        media = source.get("media_type")
        if media not in _IMAGE_TYPES:
            raise Untranslatable(where, f"image type {media!r} is not one OpenAI chat takes")
        url = f"data:{media};base64,{expect_string(source.get('data'), f'{where}.source.data')}"
    elif kind == "url":
        url = expect_string(source.get("url"), f"{where}.source.url")
    else:
        raise Untranslatable(where, f"image source {kind!r} cannot be sent to OpenAI chat")
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: dict[str, Any], where: str) -> list[dict[str, Any]]:
    source = expect_object(block.get("source"), f"{where}.source")
    kind = source.get("type")
    title = block.get("title") if isinstance(block.get("title"), str) else None
    if kind == "base64" and source.get("media_type") == "application/pdf":
        data = expect_string(source.get("data"), f"{where}.source.data")
        return [{"type": "file", "file": {"filename": f"{title or 'document'}.pdf",
                                          "file_data": f"data:application/pdf;base64,{data}"}}]
    if kind == "text":
        text = expect_string(source.get("data"), f"{where}.source.data")
        return [{"type": "text", "text": f"{title}\n\n{text}" if title else text}]
    if kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise Untranslatable(f"{where}.source.content", "must be a string or a list of blocks")
        return [part for i, b in enumerate(content) for part in _user_part(b, f"{where}.source.content[{i}]")]
    raise Untranslatable(where, f"document source {kind!r} cannot be sent to OpenAI chat")


def _user_part(block: Any, where: str) -> list[dict[str, Any]]:
    """One Anthropic block of user content as Chat content parts."""
    block = expect_object(block, where)
    kind = block.get("type")
    if kind == "text":
        return [{"type": "text", "text": expect_string(block.get("text"), f"{where}.text")}]
    if kind == "image":
        return [_image(block, where)]
    if kind == "document":
        return _document(block, where)
    if kind == "search_result":
        return [{"type": "text", "text": _text_of(block.get("content"), f"{where}.content")}]
    raise Untranslatable(where, f"block type {kind!r} cannot be sent to OpenAI chat")


def _tool_result(block: dict[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A tool_result as a `tool` message, and the non-text parts Chat cannot put
    in one (images, files): those follow in the user message after the results."""
    call_id = expect_string(block.get("tool_use_id"), f"{where}.tool_use_id")
    content = block.get("content", "")
    texts: list[str] = []
    others: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for i, item in enumerate(content):
            for part in _user_part(item, f"{where}.content[{i}]"):
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    others.append(part)
    else:
        raise Untranslatable(f"{where}.content", "must be a string or a list of blocks")
    text = "\n\n".join(texts)
    # Chat's tool message has no error flag: the model learns of it from the text.
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    if others:
        others.insert(0, {"type": "text", "text": f"(attached to the result of tool call {call_id})"})
    return {"role": "tool", "tool_call_id": call_id, "content": text}, others


def _user_messages(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise Untranslatable(where, "must be a string or a list of blocks")
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        if isinstance(block, dict) and block.get("type") == "tool_result":
            message, attached = _tool_result(block, f"{where}[{i}]")
            tools.append(message)
            parts.extend(attached)
        else:
            parts.extend(_user_part(block, f"{where}[{i}]"))
    if not parts:
        return tools
    # A lone text part goes as a plain string: chat-only servers without
    # vision often take nothing else.
    body: Any = parts[0]["text"] if len(parts) == 1 and parts[0]["type"] == "text" else parts
    return [*tools, {"role": "user", "content": body}]


def _assistant_message(content: Any, where: str) -> dict[str, Any] | None:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise Untranslatable(where, "must be a string or a list of blocks")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        block = expect_object(block, f"{where}[{i}]")
        kind = block.get("type")
        if kind == "text":
            texts.append(expect_string(block.get("text"), f"{where}[{i}].text"))
        elif kind == "tool_use":
            arguments = orjson.dumps(expect_object(block.get("input", {}), f"{where}[{i}].input")).decode()
            calls.append({"id": expect_string(block.get("id"), f"{where}[{i}].id"), "type": "function",
                          "function": {"name": expect_string(block.get("name"), f"{where}[{i}].name"),
                                       "arguments": arguments}})
        elif kind not in ("thinking", "redacted_thinking"):  # Anthropic's own: dropped
            raise Untranslatable(f"{where}[{i}]", f"block type {kind!r} cannot be sent to OpenAI chat")
    if not texts and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _add_user(out: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
    """Append a user turn. Chat wants the `tool` results right after the calls,
    so system messages that came between the two move after the results."""
    tools = [m for m in messages if m["role"] == "tool"]
    at = len(out)
    while at > 0 and out[at - 1]["role"] == "system":
        at -= 1
    if tools and at < len(out) and at > 0 and out[at - 1].get("tool_calls"):
        out[at:at] = tools
        messages = messages[len(tools):]
    out.extend(messages)


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if "system" in body and body["system"] is not None:
        system = _text_of(body["system"], "system")
        if system:
            out.append({"role": "system", "content": system})
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Untranslatable("messages", "must be a non-empty list")
    last_user = last_user_index(messages)
    for i, message in enumerate(messages):
        message = expect_object(message, f"messages[{i}]")
        role, where = message.get("role"), f"messages[{i}].content"
        translated: dict[str, Any] | None
        if role == "user":
            _add_user(out, _user_messages(message.get("content"), where))
            continue
        if role == "assistant":
            translated = _assistant_message(message.get("content"), where)
        elif role == "system":
            # Chat takes system messages where they stand.
            text = system_message_text(message, i, last_user)
            translated = {"role": "system", "content": text} if text else None
        else:
            raise Untranslatable(f"messages[{i}].role", f"{role!r} is not user, assistant or system")
        if translated is not None:
            out.append(translated)
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise Untranslatable("tools", "must be a list")
    out = []
    for i, tool in enumerate(tools):
        tool = expect_object(tool, f"tools[{i}]")
        if tool.get("type") not in (None, "custom"):
            raise Untranslatable(f"tools[{i}]", f"server tool {tool.get('type')!r} cannot run on OpenAI chat")
        name = expect_string(tool.get("name"), f"tools[{i}].name")
        if not _TOOL_NAME.match(name):
            raise Untranslatable(f"tools[{i}].name", "OpenAI chat takes 1-64 letters, digits, _ or -")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Untranslatable(f"tools[{i}].input_schema", "must be a JSON schema of type object")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any, out: dict[str, Any]) -> None:
    choice = expect_object(choice, "tool_choice")
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": expect_string(choice.get("name"), "tool_choice.name")}}
    else:
        raise Untranslatable("tool_choice.type", f"{kind!r} is not auto, any, tool or none")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False


def _effort(body: dict[str, Any], options: RequestOptions) -> str | None:
    """output_config.effort, else a thinking budget (read as the model's cap
    allows it), as Chat's reasoning_effort."""
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if effort is not None:
        if effort not in _EFFORTS:
            raise Untranslatable("output_config.effort", f"{effort!r} is not a known effort")
        return str(effort)
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise Untranslatable("thinking.budget_tokens", "must be an integer")
        budget = options.clamp_budget(budget)
        return next((level for bound, level in _BUDGET_EFFORT if budget <= bound), "high")
    return None


def _response_format(config: Any) -> dict[str, Any] | None:
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        return None
    fmt = expect_object(fmt, "output_config.format")
    if fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise Untranslatable("output_config.format", "only a json_schema format with a schema translates")
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": fmt["schema"]}}


def _sampling(body: dict[str, Any], out: dict[str, Any], reasoning: bool) -> None:
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Untranslatable(name, "must be a number")
        if not reasoning or value == 1:
            out[name] = value
    stops = body.get("stop_sequences")
    if stops and not reasoning:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise Untranslatable("stop_sequences", "must be a list of strings")
        if len(stops) > _MAX_STOP:
            raise Untranslatable("stop_sequences", f"OpenAI chat takes at most {_MAX_STOP}")
        out["stop"] = stops


def _safety_identifier(metadata: Any) -> str | None:
    user = anthropic.end_user(metadata)
    return openai_chat.safety_identifier(user) if user is not None else None


def request(body: dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """A Chat Completions body for an Anthropic Messages body, or Untranslatable."""
    for name in _REFUSED:
        if body.get(name):
            raise Untranslatable(name, "OpenAI chat has no counterpart")
    reasoning = is_reasoning_model(options.model)
    out: dict[str, Any] = {"model": options.model, "messages": _messages(body)}
    limit = body.get("max_tokens")
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise Untranslatable("max_tokens", "must be a positive integer")
        # The current name: reasoning models refuse the legacy max_tokens. Clamped
        # to the model's cap, which refuses more (Claude Code's 64000 on gpt-4o).
        out["max_completion_tokens"] = options.clamp(limit)
    _sampling(body, out, reasoning)
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
        if body.get("tool_choice") is not None:
            _tool_choice(body["tool_choice"], out)
    effort = _effort(body, options)
    if effort is not None and reasoning:
        out["reasoning_effort"] = effort
    response_format = _response_format(body.get("output_config"))
    if response_format is not None:
        out["response_format"] = response_format
    safety_id = _safety_identifier(body.get("metadata"))
    if safety_id is not None:
        out["safety_identifier"] = safety_id
    stream = body.get("stream") is True
    if stream:
        # Without it the stream carries no usage and the record would be a guess.
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    for name in options.drop:
        out.pop(name, None)
    return TranslatedRequest(body=out, path=wire.CHAT_PATH, stream=stream, reply=options.client_model)


BRIDGE = Bridge(
    client=wire.ANTHROPIC_MESSAGES,
    upstream=wire.OPENAI_CHAT,
    request=request,
    answer=answer,
    error=error,
    stream=ChatToAnthropicStream,
    # OpenAI counts nothing before a call: estimated here (anthropic_count).
    count=local_count(request),
)
