"""Anthropic Messages clients on OpenAI Responses accounts: the request, and the pair's `BRIDGE`.

Both kinds of `openai-responses` account take this body: an API key's
`/v1/responses` and the ChatGPT Codex backend, which wants `instructions` and
`input` items, only streams and stores nothing (its adapter forces
`stream: true` and collects the stream when the client asked for JSON) and
rejects `max_output_tokens` (`RequestOptions.drop`, from the account type).
The body is built from scratch, field by field, so an Anthropic field this
module does not read is never forwarded.

The whole conversation travels on every turn (`store: false`, no
`previous_response_id`): Anthropic clients keep their own history, and the
Codex backend keeps none. Thinking blocks and their signatures are another
vendor's and are dropped. The answer and the stream are in the sibling
modules `_answer` and `_stream`.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import orjson

from .. import anthropic, openai_chat, wire
from .anthropic_count import local_count
from .anthropic_openai_responses_answer import answer, error
from .anthropic_openai_responses_stream import ResponsesToAnthropicStream
from .anthropic_system import last_user_index, system_message_text
from .base import Bridge, RequestOptions, TranslatedRequest, Untranslatable

# Anthropic fields read nowhere below, on purpose: each changes nothing the
# answer depends on, or has no Responses counterpart worth refusing a request
# for. (Any field not in this list and not read is dropped all the same: the
# list is what a reader of this module needs to know was thought about.)
DROPPED_FIELDS = frozenset({
    "top_k",  # no top-k sampling in Responses; a sampling detail
    "cache_control",  # OpenAI caches prompt prefixes by itself
    "service_tier", "speed", "inference_geo",  # Anthropic's capacity and region options
    "context_management",  # Anthropic-side context editing: the client sends the whole history anyway
    "container", "diagnostics", "user_profile_id", "workspace_id",  # Anthropic-account plumbing
})

# Sampling values that equal both APIs' defaults: dropped rather than sent,
# because reasoning models (gpt-5, codex) reject `temperature` and `top_p`
# altogether and Claude Code sends `temperature: 1`.
_SAMPLING = ("temperature", "top_p")
_DEFAULT_SAMPLING = 1

# The Responses API refuses a `max_output_tokens` under 16; Claude Code probes
# its quota with `max_tokens: 1`, so small limits are raised to the minimum.
_MIN_OUTPUT_TOKENS = 16

# `output_config.effort` values Responses' `reasoning.effort` takes as they are.
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
# Thinking budgets -> effort: Claude Code's "think" (4k), "think hard" (10k)
# and "ultrathink" (32k) budgets land on low, medium and high.
_BUDGET_EFFORTS = ((8192, "low"), (24576, "medium"))


def request(body: dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """An Anthropic Messages body as a Responses body; Untranslatable names what cannot go."""
    if not isinstance(body, dict):
        raise Untranslatable("body", "must be a JSON object")
    _refuse_unmappable(body)
    stream = body.get("stream") is True
    out: dict[str, Any] = {
        "model": options.model,
        "instructions": _instructions(body.get("system")),
        "input": _input(body.get("messages")),
        "store": False,
        "stream": stream,
    }
    limit = body.get("max_tokens")
    if limit is not None:
        if not _is_int(limit) or limit < 1:
            raise Untranslatable("max_tokens", "must be a positive integer")
        # Clamped to the model's cap, which refuses more (Claude Code's 64000 on gpt-4o).
        out["max_output_tokens"] = max(options.clamp(limit), _MIN_OUTPUT_TOKENS)
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        out["tool_choice"], serial = _tool_choice(body["tool_choice"])
        if serial:
            out["parallel_tool_calls"] = False
    effort = _effort(body, options)
    if effort is not None:
        out["reasoning"] = {"effort": effort}
    text_format = _text_format(body.get("output_config"))
    if text_format is not None:
        out["text"] = {"format": text_format}
    out.update(_sampling(body))
    user = _safety_identifier(body.get("metadata"))
    if user is not None:
        out["safety_identifier"] = user
    for name in options.drop:
        out.pop(name, None)
    return TranslatedRequest(body=out, path=wire.RESPONSES_PATH, stream=stream, reply=options.client_model)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse_unmappable(body: dict[str, Any]) -> None:
    """Fields that would change the answer and that Responses has no way to carry."""
    if body.get("stop_sequences"):
        raise Untranslatable("stop_sequences", "the Responses API has no stop sequences")
    if body.get("mcp_servers"):
        raise Untranslatable("mcp_servers", "Anthropic's MCP connector has no Responses counterpart here")


def _instructions(system: Any) -> str:
    """`system` as one string. Always sent (empty when absent): the Codex backend requires it."""
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    if not isinstance(system, list):
        raise Untranslatable("system", "must be a string or a list of text blocks")
    texts = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise Untranslatable(f"system[{i}]", "only text blocks can become instructions")
        texts.append(block["text"])  # cache_control dropped: no such thing in Responses
    return "\n\n".join(texts)


def _input(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise Untranslatable("messages", "must be a non-empty list")
    items: list[dict[str, Any]] = []
    last_user = last_user_index(messages)
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise Untranslatable(where, "must be an object")
        if message.get("role") == "system":
            # A developer item where it stands: Responses' system text mid-conversation.
            text = system_message_text(message, i, last_user)
            if text:
                items.append({"type": "message", "role": "developer",
                              "content": [{"type": "input_text", "text": text}]})
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise Untranslatable(f"{where}.content", "must be a string or a list of blocks")
        role = message.get("role")
        if role == "user":
            items += _user_items(blocks, where)
        elif role == "assistant":
            items += _assistant_items(blocks, where)
        else:
            raise Untranslatable(f"{where}.role", "must be 'user', 'assistant' or 'system'")
    if messages[-1].get("role") == "assistant":
        # A prefill asks the model to continue that very text; Responses would
        # answer after it instead, which is a different answer.
        raise Untranslatable(f"messages[{len(messages) - 1}]", "the Responses API cannot continue a prefilled "
                             "assistant turn")
    return items


def _user_items(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """A user turn: its content as message items, its tool results as function_call_output items, in order."""
    items: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        if isinstance(block, dict) and block.get("type") == "tool_result":
            if parts:
                items.append({"type": "message", "role": "user", "content": parts})
                parts = []
            items.append(_tool_output(block, at))
        else:
            parts.append(_input_part(block, at, ("text", "image", "document")))
    if parts:
        items.append({"type": "message", "role": "user", "content": parts})
    return items


def _input_part(block: Any, at: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(block, dict):
        raise Untranslatable(at, "a content block must be an object")
    kind = block.get("type")
    if kind not in kinds:
        raise Untranslatable(at, f"a {kind!r} block cannot be sent to the Responses API here")
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise Untranslatable(f"{at}.text", "must be a string")
        return {"type": "input_text", "text": block["text"]}
    source = block.get("source")
    if not isinstance(source, dict):
        raise Untranslatable(f"{at}.source", "must be an object")
    return _image(source, at) if kind == "image" else _document(block, source, at)


def _string(source: dict[str, Any], key: str, at: str) -> str:
    value = source.get(key)
    if not isinstance(value, str) or not value:
        raise Untranslatable(f"{at}.source.{key}", "must be a non-empty string")
    return value


def _image(source: dict[str, Any], at: str) -> dict[str, Any]:
    if source.get("type") == "base64":
        url = f"data:{_string(source, 'media_type', at)};base64,{_string(source, 'data', at)}"
    elif source.get("type") == "url":
        url = _string(source, "url", at)
    else:
        # File ids name files in Anthropic's Files API, which OpenAI cannot read.
        raise Untranslatable(f"{at}.source", "only base64 and URL images can be sent to the Responses API")
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def _document(block: dict[str, Any], source: dict[str, Any], at: str) -> dict[str, Any]:
    kind = source.get("type")
    if kind == "text":
        return {"type": "input_text", "text": _string(source, "data", at)}
    title = block.get("title")
    if kind == "base64":
        media_type = _string(source, "media_type", at)
        return {"type": "input_file", "filename": title if isinstance(title, str) and title else "document.pdf",
                "file_data": f"data:{media_type};base64,{_string(source, 'data', at)}"}
    if kind == "url":
        return {"type": "input_file", "file_url": _string(source, "url", at)}
    raise Untranslatable(f"{at}.source", "only base64, URL and plain-text documents can be sent to the Responses API")


def _tool_output(block: dict[str, Any], at: str) -> dict[str, Any]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise Untranslatable(f"{at}.tool_use_id", "must be a non-empty string")
    content = block.get("content")
    output: str | list[dict[str, Any]]
    if content is None or isinstance(content, str):
        output = content or ""
    elif isinstance(content, list):
        parts = [_input_part(part, f"{at}.content[{k}]", ("text", "image", "document"))
                 for k, part in enumerate(content)]
        texts = [part["text"] for part in parts if part["type"] == "input_text"]
        # Text alone goes as the plain string every model reads; images need the list form.
        output = "\n".join(texts) if len(texts) == len(parts) else parts
    else:
        raise Untranslatable(f"{at}.content", "must be a string or a list of blocks")
    if block.get("is_error") is True:
        # Responses has no error flag on a tool's output: the model is told in words.
        output = "Error: " + output if isinstance(output, str) else [{"type": "input_text", "text": "Error:"}, *output]
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def _assistant_items(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in ("thinking", "redacted_thinking"):
            continue  # another vendor's reasoning, valid only for it
        if kind == "text" and isinstance(block, dict) and isinstance(block.get("text"), str):
            if block["text"]:
                texts.append({"type": "output_text", "text": block["text"]})
        elif kind == "tool_use" and isinstance(block, dict):
            if texts:
                items.append({"type": "message", "role": "assistant", "content": texts})
                texts = []
            items.append(_function_call(block, at))
        else:
            raise Untranslatable(at, f"a {kind!r} block cannot be sent to the Responses API in an assistant turn")
    if texts:
        items.append({"type": "message", "role": "assistant", "content": texts})
    return items


def _function_call(block: dict[str, Any], at: str) -> dict[str, Any]:
    for key in ("id", "name"):
        if not isinstance(block.get(key), str) or not block[key]:
            raise Untranslatable(f"{at}.{key}", "must be a non-empty string")
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise Untranslatable(f"{at}.input", "must be an object")
    try:
        encoded = orjson.dumps(arguments).decode()
    except orjson.JSONEncodeError as exc:
        raise Untranslatable(f"{at}.input", "cannot be encoded as JSON") from exc
    return {"type": "function_call", "call_id": block["id"], "name": block["name"], "arguments": encoded}


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise Untranslatable("tools", "must be a list")
    out = []
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise Untranslatable(at, "must be an object")
        if tool.get("type") not in (None, "custom"):
            raise Untranslatable(f"{at}.type", f"Anthropic's server tool {tool.get('type')!r} has no Responses "
                                 "counterpart")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise Untranslatable(f"{at}.name", "must be a non-empty string")
        schema = tool.get("input_schema")
        if (not isinstance(schema, dict) or schema.get("type") != "object"
                or not isinstance(schema.get("properties", {}), dict)):
            raise Untranslatable(f"{at}.input_schema", "must be a JSON Schema of type 'object'")
        # strict defaults to true in Responses, and a strict schema must list
        # every property as required: an Anthropic schema rarely does.
        function = {"type": "function", "name": tool["name"], "parameters": schema,
                    "strict": tool.get("strict") is True}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        out.append(function)
    return out


def _tool_choice(choice: Any) -> tuple[Any, bool]:
    """Responses' tool_choice, and whether parallel calls are turned off."""
    if not isinstance(choice, dict):
        raise Untranslatable("tool_choice", "must be an object")
    kind = choice.get("type")
    value: Any
    if kind == "auto":
        value = "auto"
    elif kind == "any":
        value = "required"
    elif kind == "none":
        value = "none"
    elif kind == "tool":
        if not isinstance(choice.get("name"), str) or not choice["name"]:
            raise Untranslatable("tool_choice.name", "must be a non-empty string")
        value = {"type": "function", "name": choice["name"]}
    else:
        raise Untranslatable("tool_choice.type", "must be auto, any, tool or none")
    return value, choice.get("disable_parallel_tool_use") is True


def _effort(body: dict[str, Any], options: RequestOptions) -> str | None:
    """reasoning.effort: output_config.effort as it is, else from the thinking
    budget (read as the model's cap allows it)."""
    config = body.get("output_config")
    if isinstance(config, dict) and config.get("effort") is not None:
        if not isinstance(config["effort"], str) or config["effort"] not in _EFFORTS:
            raise Untranslatable("output_config.effort", "must be low, medium, high, xhigh or max")
        return str(config["effort"])
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise Untranslatable("thinking", "must be an object")
    kind = thinking.get("type")
    if kind in ("disabled", "adaptive", "between_tools"):
        return None  # the model's own default effort
    if kind != "enabled":
        raise Untranslatable("thinking.type", "must be enabled, adaptive or disabled")
    budget = thinking.get("budget_tokens")
    if not _is_int(budget) or budget < 1:
        raise Untranslatable("thinking.budget_tokens", "must be a positive integer")
    budget = options.clamp_budget(budget)
    return next((effort for limit, effort in _BUDGET_EFFORTS if budget < limit), "high")


def _text_format(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    if not isinstance(config, dict):
        raise Untranslatable("output_config", "must be an object")
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise Untranslatable("output_config.format", "must be {type: json_schema, schema: {...}}")
    # Not strict: OpenAI's strict mode refuses schemas whose properties are not
    # all required, which Anthropic's structured outputs accept.
    return {"type": "json_schema", "name": "output", "schema": fmt["schema"], "strict": False}


def _sampling(body: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in _SAMPLING:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Untranslatable(name, "must be a number")
        if value != _DEFAULT_SAMPLING:
            out[name] = value
    return out


def _safety_identifier(metadata: Any) -> str | None:
    user = anthropic.end_user(metadata)
    return openai_chat.safety_identifier(user) if user is not None else None


BRIDGE = Bridge(
    client=wire.ANTHROPIC_MESSAGES,
    upstream=wire.OPENAI_RESPONSES,
    request=request,
    answer=answer,
    error=error,
    stream=ResponsesToAnthropicStream,
    # OpenAI counts nothing before a call: estimated here (anthropic_count).
    count=local_count(request),
)
