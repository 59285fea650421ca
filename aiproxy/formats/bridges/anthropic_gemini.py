"""Anthropic Messages clients on Gemini accounts: the request (Messages -> generateContent body).

The body is the native GenerateContentRequest: `gemini-api` accounts send it
as it is, `gemini-oauth` ones wrap it in Code Assist's envelope (formats.
code_assist), so one translation serves both. The answer and the stream are in
`anthropic_gemini_answer`.

Choices a reader would otherwise wonder about:
- Tool schemas go as `parametersJsonSchema` (full JSON Schema), not the
  OpenAPI-subset `parameters`: google-genai's FunctionDeclaration takes either
  (mutually exclusive), its own schema builder logs a warning unless it may use
  JSON Schema, and gemini-cli sends MCP tools' `inputSchema` there verbatim on
  both the Gemini API and Code Assist. So Claude Code's schemas (`anyOf`,
  `additionalProperties`, `$ref`, `const`) keep their meaning instead of being
  cut down to a subset; only their shape is checked.
- Tool call ids: Gemini pairs a functionResponse with its functionCall by name
  and order and may give no id. An id Gemini gave (anything not starting with
  `toolu_`, the prefix of Anthropic's ids and of the ones the answer makes) goes
  back to it on both parts; other ids stay on the Anthropic side.
- thoughtSignature: the answer carries each one to the client in a thinking
  block whose `signature` is `SIGNATURE_PREFIX` + the signature (Anthropic's own
  signatures are base64, never containing `:`); here it is put back on the part
  it came with. Any other thinking block is another vendor's and is dropped.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .. import anthropic, wire
from .anthropic_count import answer as count_answer
from .anthropic_gemini_answer import SIGNATURE_PREFIX, answer, error, stream
from .anthropic_system import last_user_index, system_message_text
from .base import Bridge, RequestOptions, TranslatedRequest, Untranslatable, UpstreamCount

# Top-level Messages fields that change nothing essential on Gemini, dropped:
# Gemini has no end-user id (metadata.user_id), no service tiers or speed/region
# choices, and caches by itself (cache_control has no counterpart). Also
# dropped: tool_choice.disable_parallel_tool_use (no switch on Gemini; a client
# takes several tool_use blocks anyway) and output_config.effort on models that
# take only a budget. `model` and `stream` travel in the path. Every field not
# read below is dropped too; this list is what is dropped knowingly.
# context_management (server-side clearing of old thinking and tool results,
# which Claude Code always sends) is dropped as the other pairs drop it:
# thinking never crosses vendors, and not clearing old tool results shows the
# model more of the conversation, never less.
DROPPED = ("metadata", "service_tier", "speed", "inference_geo", "cache_control", "diagnostics",
           "context_management")
# Fields whose meaning Gemini cannot carry: a 400 naming them.
_REFUSED = ("mcp_servers", "container")
_ROLES = {"user": "user", "assistant": "model"}
# FunctionDeclaration.name (google-genai types): a letter or underscore, then
# letters, digits, `_ . : -`, at most 128.
_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")
_TOOL_CHOICE = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}
# output_config.effort -> thinkingConfig.thinkingLevel (google-genai ThinkingLevel).
_EFFORT = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH", "xhigh": "XHIGH", "max": "XHIGH"}
# Models before Gemini 3 take a thinkingBudget only (thinkingLevel came with 3).
_BUDGET_ONLY_MODELS = ("gemini-1.", "gemini-2.")
_SCHEMA_KEYS_OF_SCHEMAS = ("items", "additionalProperties", "not")
_SCHEMA_LISTS_OF_SCHEMAS = ("anyOf", "oneOf", "allOf", "prefixItems")


def request(body: dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """The generateContent (or streamGenerateContent) request for a Messages body."""
    if not isinstance(body, dict):
        raise Untranslatable("body", "must be a JSON object")
    for name in _REFUSED:
        if body.get(name):
            raise Untranslatable(name, "has no counterpart on Gemini accounts")
    out: dict[str, Any] = {"contents": _contents(body.get("messages"))}
    system = _system(body.get("system")) + _system_messages(body["messages"])
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = [{"functionDeclarations": tools}]
        config = _tool_config(body.get("tool_choice"), {t["name"] for t in tools})
        if config:
            out["toolConfig"] = config
    elif isinstance(body.get("tool_choice"), dict) and body["tool_choice"].get("type") in ("any", "tool"):
        raise Untranslatable("tool_choice", "asks for a tool call but no tools are given")
    generation = _generation_config(body, options)
    # An account's own drop list names Gemini fields, top-level or generationConfig ones.
    generation = {k: v for k, v in generation.items() if k not in options.drop}
    if generation:
        out["generationConfig"] = generation
    out = {k: v for k, v in out.items() if k not in options.drop}
    streamed = body.get("stream") is True
    if streamed:
        return TranslatedRequest(out, wire.GEMINI_STREAM_PATH, True, (("alt", "sse"),), reply=options.client_model)
    return TranslatedRequest(out, wire.GEMINI_GENERATE_PATH, False, reply=options.client_model)


def _system(system: Any) -> list[dict[str, Any]]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"text": system}] if system else []
    if not isinstance(system, list):
        raise Untranslatable("system", "must be a string or a list of text blocks")
    parts = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise Untranslatable(f"system[{i}]", "only text blocks can be a Gemini system instruction")
        if block["text"]:
            parts.append({"text": block["text"]})
    return parts


def _system_messages(messages: list[Any]) -> list[dict[str, Any]]:
    """`role: system` messages of the conversation: Gemini has system text only
    in the system instruction, so the shown ones join it there, in order."""
    last_user = last_user_index(messages)
    texts = (system_message_text(m, i, last_user) for i, m in enumerate(messages)
             if isinstance(m, dict) and m.get("role") == "system")
    return [{"text": text} for text in texts if text]


def _contents(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise Untranslatable("messages", "must be a non-empty list")
    names: dict[str, str] = {}  # tool_use id -> tool name, for the functionResponse
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if isinstance(message, dict) and message.get("role") == "system":
            continue  # in the system instruction (_system_messages)
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or message["role"] not in _ROLES:
            raise Untranslatable(where, "must be an object with role user, assistant or system")
        content = message.get("content")
        if isinstance(content, str):
            parts = [{"text": content}] if content else []
        elif isinstance(content, list):
            parts = _parts(content, where, message["role"] == "assistant", names)
        else:
            raise Untranslatable(f"{where}.content", "must be a string or a list of blocks")
        role = _ROLES[message["role"]]
        if not parts:  # Gemini refuses a turn without parts
            continue
        if contents and contents[-1]["role"] == role:  # a turn left empty between two: one turn
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if not contents:
        raise Untranslatable("messages", "has no content to send")
    return contents


def _parts(blocks: list[Any], where: str, assistant: bool, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    pending: str | None = None  # a thoughtSignature for the part the next block makes
    for j, block in enumerate(blocks):
        field = f"{where}.content[{j}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise Untranslatable(field, "must be an object with a type")
        kind = block["type"]
        if kind in ("thinking", "redacted_thinking"):
            thought, signature = _thought(block)
            if thought is not None:
                parts.append(thought)
            elif signature is not None:
                if pending is not None:  # two in a row: the first came on an empty part
                    parts.append({"text": "", "thoughtSignature": pending})
                pending = signature
            continue
        made = _block(block, kind, field, assistant, names)
        if pending is not None and made:
            made[0]["thoughtSignature"] = pending
            pending = None
        parts.extend(made)
    if pending is not None:  # the signature came last, on an empty text part of its own
        parts.append({"text": "", "thoughtSignature": pending})
    return parts


def _thought(block: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """A thinking block the answer made: (the thought part to restore, or the bare
    signature for the next part). Another vendor's blocks give (None, None)."""
    signature = block.get("signature")
    if block["type"] != "thinking" or not isinstance(signature, str) or not signature.startswith(SIGNATURE_PREFIX):
        return None, None
    signature = signature[len(SIGNATURE_PREFIX):]
    text = block.get("thinking")
    if isinstance(text, str) and text:
        return {"text": text, "thought": True, "thoughtSignature": signature}, None
    return None, signature


def _block(block: dict[str, Any], kind: str, field: str, assistant: bool,
           names: dict[str, str]) -> list[dict[str, Any]]:
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise Untranslatable(f"{field}.text", "must be a string")
        return [{"text": block["text"]}] if block["text"] else []
    if kind in ("image", "document"):
        return [_media(block, field)]
    if kind == "tool_use" and assistant:
        return [_function_call(block, field, names)]
    if kind == "tool_result" and not assistant:
        return _function_response(block, field, names)
    raise Untranslatable(field, f"a {kind!r} block has no counterpart on Gemini accounts")


def _media(block: dict[str, Any], field: str) -> dict[str, Any]:
    """An image or a document as inline data (Gemini reads PDFs and plain text too)."""
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        mime, data = source.get("media_type"), source.get("data")
        if isinstance(mime, str) and isinstance(data, str) and mime and data:
            return {"inlineData": {"mimeType": mime, "data": data}}
        raise Untranslatable(f"{field}.source", "needs media_type and data")
    if kind == "text" and block["type"] == "document" and isinstance(source, dict):
        if isinstance(source.get("data"), str):
            return {"text": source["data"]}
    if kind == "url":
        raise Untranslatable(field, f"an {block['type']} by URL: Gemini takes only inline data or its own "
                                    "uploaded files and the gateway does not fetch URLs; send it as base64")
    raise Untranslatable(f"{field}.source", f"a {kind!r} source cannot be sent to Gemini")


def _function_call(block: dict[str, Any], field: str, names: dict[str, str]) -> dict[str, Any]:
    name, tool_id, args = block.get("name"), block.get("id"), block.get("input", {})
    if not isinstance(name, str) or not name or not isinstance(tool_id, str) or not tool_id:
        raise Untranslatable(field, "a tool_use needs an id and a name")
    if not isinstance(args, dict):
        raise Untranslatable(f"{field}.input", "must be an object")
    names[tool_id] = name
    call: dict[str, Any] = {"name": name, "args": args}
    if not tool_id.startswith("toolu_"):
        call["id"] = tool_id
    return {"functionCall": call}


def _function_response(block: dict[str, Any], field: str, names: dict[str, str]) -> list[dict[str, Any]]:
    """A tool result as a functionResponse (named after its call); images in it
    follow as parts of their own, which every Gemini model reads."""
    tool_id = block.get("tool_use_id")
    if not isinstance(tool_id, str) or tool_id not in names:
        raise Untranslatable(f"{field}.tool_use_id", "names no tool_use of an earlier assistant turn")
    content = block.get("content", "")
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, inner in enumerate(content):
            where = f"{field}.content[{k}]"
            kind = inner.get("type") if isinstance(inner, dict) else None
            if kind == "text" and isinstance(inner, dict) and isinstance(inner.get("text"), str):
                texts.append(inner["text"])
            elif kind in ("image", "document") and isinstance(inner, dict):
                media.append(_media(inner, where))
            else:
                raise Untranslatable(where, "a tool result may hold text, images and documents")
    else:
        raise Untranslatable(f"{field}.content", "must be a string or a list of blocks")
    # google-genai FunctionResponse: "output" for the result, "error" for a failure.
    key = "error" if block.get("is_error") is True else "output"
    response: dict[str, Any] = {"name": names[tool_id], "response": {key: "\n".join(texts)}}
    if not tool_id.startswith("toolu_"):
        response["id"] = tool_id
    return [{"functionResponse": response}, *media]


def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise Untranslatable("tools", "must be a list")
    declarations = []
    for i, tool in enumerate(tools):
        field = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise Untranslatable(field, "must be an object")
        if tool.get("type") not in (None, "custom"):
            raise Untranslatable(field, f"the server tool {tool.get('type')!r} has no counterpart on Gemini accounts")
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise Untranslatable(f"{field}.name", "Gemini takes a letter or _ then letters, digits, _ . : -, "
                                                  "at most 128")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Untranslatable(f"{field}.input_schema", "must be a JSON Schema of type object")
        _check_schema(schema, f"{field}.input_schema")
        declaration: dict[str, Any] = {"name": name, "parametersJsonSchema": schema}
        if isinstance(tool.get("description"), str) and tool["description"]:
            declaration["description"] = tool["description"]
        declarations.append(declaration)
    return declarations


def _check_schema(schema: Any, field: str, depth: int = 0) -> None:
    """A schema Gemini would refuse with a 400 of its own is named here instead."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict) or depth > 64:
        raise Untranslatable(field, "is not a JSON Schema object")
    kind = schema.get("type")
    if kind is not None and not isinstance(kind, str) and not (
            isinstance(kind, list) and all(isinstance(k, str) for k in kind)):
        raise Untranslatable(f"{field}.type", "must be a string or a list of strings")
    required = schema.get("required")
    if required is not None and not (isinstance(required, list) and all(isinstance(r, str) for r in required)):
        raise Untranslatable(f"{field}.required", "must be a list of names")
    for key in ("properties", "$defs", "definitions"):
        if key in schema:
            if not isinstance(schema[key], dict):
                raise Untranslatable(f"{field}.{key}", "must be an object")
            for name, sub in schema[key].items():
                _check_schema(sub, f"{field}.{key}.{name}", depth + 1)
    for key in _SCHEMA_KEYS_OF_SCHEMAS:
        if key in schema:
            _check_schema(schema[key], f"{field}.{key}", depth + 1)
    for key in _SCHEMA_LISTS_OF_SCHEMAS:
        if key in schema:
            if not isinstance(schema[key], list):
                raise Untranslatable(f"{field}.{key}", "must be a list of schemas")
            for n, sub in enumerate(schema[key]):
                _check_schema(sub, f"{field}.{key}[{n}]", depth + 1)


def _tool_config(choice: Any, names: set[str]) -> dict[str, Any] | None:
    """tool_choice as functionCallingConfig (`disable_parallel_tool_use` dropped, see DROPPED)."""
    if choice is None:
        return None
    if not isinstance(choice, dict) or not isinstance(choice.get("type"), str) or choice["type"] not in _TOOL_CHOICE:
        raise Untranslatable("tool_choice", "must be auto, any, tool or none")
    config: dict[str, Any] = {"mode": _TOOL_CHOICE[choice["type"]]}
    if choice["type"] == "tool":
        if not isinstance(choice.get("name"), str) or choice["name"] not in names:
            raise Untranslatable("tool_choice.name", "names no tool of this request")
        config["allowedFunctionNames"] = [choice["name"]]
    return {"functionCallingConfig": config}


def _generation_config(body: dict[str, Any], options: RequestOptions) -> dict[str, Any]:
    model = options.model
    config: dict[str, Any] = {}
    for source, target, kinds in (("max_tokens", "maxOutputTokens", (int,)),
                                  ("temperature", "temperature", (int, float)),
                                  ("top_p", "topP", (int, float)), ("top_k", "topK", (int,))):
        value = body.get(source)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
            raise Untranslatable(source, "must be a non-negative number")
        config[target] = value
    if "maxOutputTokens" in config:
        # Clamped to the model's cap, which refuses more (Claude Code's 64000 on gemini-2.0-flash's 8192).
        config["maxOutputTokens"] = options.clamp(config["maxOutputTokens"])
    stops = body.get("stop_sequences")
    if stops:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise Untranslatable("stop_sequences", "must be a list of strings")
        config["stopSequences"] = stops
    output = body.get("output_config")
    if output is not None and not isinstance(output, dict):
        raise Untranslatable("output_config", "must be an object")
    output = output or {}
    effort = output.get("effort")
    if model.startswith(_BUDGET_ONLY_MODELS) and isinstance(effort, str) and effort in _EFFORT:
        effort = None
    thinking = _thinking_config(body.get("thinking"), effort, options)
    if thinking:
        config["thinkingConfig"] = thinking
    fmt = output.get("format")
    if fmt is not None:
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
            raise Untranslatable("output_config.format", "must be {type: json_schema, schema}")
        _check_schema(fmt["schema"], "output_config.format.schema")
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = fmt["schema"]
    return config


def _thinking_config(thinking: Any, effort: Any, options: RequestOptions) -> dict[str, Any]:
    """thinking and effort as thinkingConfig. Disabled (or absent) sends none: the
    model's default, as for an Anthropic client that does not ask (some Gemini
    models cannot stop thinking; their thoughts are then not shown). An effort is
    a thinkingLevel, which Gemini takes instead of a budget, never with one. A
    budget is kept below the model's cap, as maxOutputTokens is clamped to it."""
    config: dict[str, Any] = {}
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind == "enabled" and isinstance(thinking, dict):
            budget = thinking.get("budget_tokens")
            if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
                raise Untranslatable("thinking.budget_tokens", "must be a non-negative integer")
            config = {"includeThoughts": True, "thinkingBudget": options.clamp_budget(budget)}
        elif kind in ("adaptive", "between_tools") and isinstance(thinking, dict):
            # Without a budget Gemini decides how much to think, as adaptive asks.
            config = {"includeThoughts": thinking.get("display") != "omitted"}
        elif kind != "disabled":
            raise Untranslatable("thinking", "must be enabled, adaptive or disabled")
    if effort is not None:
        if not isinstance(effort, str) or effort not in _EFFORT:
            raise Untranslatable("output_config.effort", "must be low, medium, high, xhigh or max")
        config.pop("thinkingBudget", None)
        config["thinkingLevel"] = _EFFORT[effort]
    return config


def count_request(body: dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """Gemini's countTokens for a count_tokens body: the whole generateContent
    request (`generateContentRequest`, which names its model), so the system
    instruction and the function declarations are counted with the contents."""
    generate = request({k: v for k, v in body.items() if k != "stream"}, options).body
    counted = {"generateContentRequest": {"model": f"models/{options.model}", **generate}}
    return TranslatedRequest(counted, wire.GEMINI_COUNT_PATH, False)


def count_answer_of(body: bytes) -> bytes:
    """Anthropic's `{input_tokens}` for Gemini's `{totalTokens}` (left out when 0, as
    protobuf JSON leaves zeros out)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    total = data.get("totalTokens", 0) if isinstance(data, dict) else None
    if isinstance(total, bool) or not isinstance(total, int):
        return anthropic.error_body(502, "the Gemini token count was not a {totalTokens} object")
    return count_answer(total)


BRIDGE = Bridge(client=wire.ANTHROPIC_MESSAGES, upstream=wire.GEMINI, request=request, answer=answer,
                error=error, stream=stream, count=UpstreamCount(count_request, count_answer_of))
