"""OpenAI Chat Completions clients on Anthropic Messages upstreams: the request.

Anthropic Messages is the pivot of cross-format serving: a chat client on a
Gemini or Responses account goes through this pair and then the Anthropic
client's pair for that account. So the body made here is one the real
Anthropic API takes: user/assistant turns alternating from a user turn (same
roles merged, `tool` messages folded into the user turn after their call, its
tool_result blocks first), every tool_use answered, `max_tokens` always set.
The answer and error rewrites are in `openai_chat_anthropic_answer`, the stream
in `openai_chat_anthropic_stream`; `BRIDGE` joins them, its answer and stream
handed the request's `Reply` (the client's model, and whether it asked for the
stream's usage chunk).

Choices a reader would otherwise wonder about:
- `max_tokens` is `max_completion_tokens`, else the legacy `max_tokens`, else
  `DEFAULT_MAX_TOKENS` (8192: Anthropic requires a limit and Chat has none by
  default; every Claude model from 3.5 on can write that many). With
  thinking on and no client limit, the budget is added on top, up to
  `_THINKING_MAX_TOKENS` (32000, Claude Opus 4 / 4.1's output cap, the smallest
  of the thinking models), so the answer keeps its room after the thinking.
  Chat's limit counts reasoning tokens as Anthropic's counts thinking ones.
- `reasoning_effort` turns on `thinking{type: enabled, budget_tokens}` by
  `_EFFORT_BUDGET` (`none`: off), the one thinking switch every thinking-capable
  Claude model takes (`output_config.effort` only some). The budget stays
  below `max_tokens`; when that leaves less than Anthropic's minimum (1024)
  thinking stays off. Thinking also stays off when Anthropic would refuse it:
  a forced tool choice (`required` or a named function), a conversation ending
  in an assistant message (a prefill), and a conversation that continues a tool
  call (its last turn holds tool results): Anthropic wants the thinking block
  that came with the call back, and Chat has no place where the client would
  have kept it. Claude models before 3.7 (`_NO_THINKING`, also behind a Bedrock
  region or vendor prefix) cannot think: `reasoning_effort` is dropped there,
  as the Anthropic-client pairs drop thinking on models without reasoning.
  The answer's thinking is not shown (Chat has no field for it).
- The conversation's system and developer messages, wherever they stand, are
  joined in order into `system`. A conversation that does not begin with a
  user message once those are taken out is refused (Anthropic starts with one);
  one that ends in an assistant message is sent as Anthropic's prefill (the
  answer continues that text; trailing whitespace, which Anthropic refuses
  there, is cut).
- Tool call ids Anthropic would refuse (it takes letters, digits, `_`, `-`) are
  replaced by a hash of themselves, the same on the call and its result.
- `response_format`: `json_schema` becomes `output_config.format`; `json_object`
  is refused, since Anthropic has no free JSON mode (a JSON schema says what
  `json_object` cannot).
- The legacy `functions` / `function_call` fields and `function` messages are
  refused: deprecated by OpenAI since 2023 for `tools`, and their calls carry no
  id to pair a result with.

Dropped, because Anthropic has no counterpart and the answer stays what the
client asked for (every other unknown field is dropped too, never forwarded):
- `DROPPED_SAMPLING`: current Anthropic API versions take no sampling fields;
- `store`, `metadata` (OpenAI's stored-completion tags), `service_tier`,
  `prompt_cache_key`, `prompt_cache_retention`, `prompt_cache_options` and parts'
  `prompt_cache_breakpoint` (OpenAI's own caching), `verbosity` (a hint),
  `prediction` (a latency aid: the answer is the same), `stream_options` (read
  by the stream writer), messages' `name`, image `detail`, a tool's `strict`,
  `parallel_tool_calls: true` (Anthropic's default), and the values that ask for
  nothing: `n: 1`, `logprobs: false`, `top_logprobs: 0`, `logit_bias: {}`,
  `functions: []`, `modalities: ["text"]`; an assistant message's `audio` reference.
Refused (Untranslatable, a 400 naming the field) because the answer would not
be what was asked: `n` > 1, `logprobs`, `top_logprobs`, `logit_bias`, `audio`,
`modalities` other than text, `web_search_options`, `moderation`, custom tools,
`allowed_tools` tool choices, audio and file parts, and malformed values.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from .. import openai_chat, wire
from .base import Bridge, RequestOptions, TranslatedRequest, Untranslatable, expect_count, expect_object, expect_string
from .openai_chat_anthropic_answer import answer, error
from .openai_chat_anthropic_stream import AnthropicToChatStream, stream_for

DEFAULT_MAX_TOKENS = 8192
_THINKING_MAX_TOKENS = 32000
_MIN_BUDGET = 1024  # Anthropic's least thinking budget
# Claude 3, 3.5 (and 3.6-era names): no extended thinking; 3.7 and every later generation have it.
_NO_THINKING = re.compile(r"claude-(?:3-[0-6]|3-(?:haiku|sonnet|opus)|instant|2)", re.IGNORECASE)
# reasoning_effort -> thinking.budget_tokens: Anthropic's least for minimal, growing
# with the level; max stays below _THINKING_MAX_TOKENS with room for the answer.
_EFFORT_BUDGET = {"minimal": 1024, "low": 4096, "medium": 8192, "high": 16384, "xhigh": 20480, "max": 24576}
DROPPED_SAMPLING = ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed")
# Fields that ask for what Anthropic cannot give whenever they are set (not
# null), but for the values that ask nothing (`_HARMLESS`).
_REFUSED = {
    "logit_bias": "Anthropic has no token biases",
    "top_logprobs": "Anthropic returns no log probabilities",
    "audio": "Anthropic answers in text only",
    "web_search_options": "the gateway does not run OpenAI's web search on Anthropic",
    "moderation": "Anthropic returns no moderation results",
    "functions": "legacy functions are not translated: send them as tools",
    "function_call": "legacy function_call is not translated: use tool_choice",
}
_HARMLESS: dict[str, tuple[Any, ...]] = {"logit_bias": ({},), "top_logprobs": (0,), "functions": ([],)}
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOOL_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_DATA_URL = re.compile(r"^data:([\w.+/-]+);base64,(.*)$", re.DOTALL)


def _text(parts: Any, where: str, *, refusals: bool = False) -> list[str]:
    """The texts of a content string or a list of text parts (and, in an
    assistant message, refusal parts), blank ones left out: Anthropic refuses
    text blocks with nothing but whitespace."""
    if isinstance(parts, str):
        return [parts] if parts.strip() else []
    if parts is None:
        return []
    if not isinstance(parts, list):
        raise Untranslatable(where, "must be a string or a list of content parts")
    texts = []
    for i, part in enumerate(parts):
        part = expect_object(part, f"{where}[{i}]")
        kind = part.get("type")
        if kind == "text":
            text = expect_string(part.get("text"), f"{where}[{i}].text")
        elif kind == "refusal" and refusals:
            text = expect_string(part.get("refusal"), f"{where}[{i}].refusal")
        else:
            raise Untranslatable(f"{where}[{i}]", f"part type {kind!r} is not text")
        if text.strip():
            texts.append(text)
    return texts


def _image(part: dict[str, Any], where: str) -> dict[str, Any]:
    url = expect_string(expect_object(part.get("image_url"), f"{where}.image_url").get("url"), f"{where}.image_url.url")
    data_url = _DATA_URL.match(url)
    if data_url:
        media, data = data_url.groups()
        if media not in _IMAGE_TYPES:
            raise Untranslatable(f"{where}.image_url.url", f"image type {media!r} is not one Anthropic takes")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise Untranslatable(f"{where}.image_url.url", "must be an http(s) URL or a base64 data: URL")


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise Untranslatable(where, "must be a string or a list of content parts")
    blocks = []
    for i, part in enumerate(content):
        part = expect_object(part, f"{where}[{i}]")
        kind = part.get("type")
        if kind == "text":
            text = expect_string(part.get("text"), f"{where}[{i}].text")
            if text.strip():
                blocks.append({"type": "text", "text": text})
        elif kind == "image_url":
            blocks.append(_image(part, f"{where}[{i}]"))
        elif kind in ("input_audio", "file"):
            raise Untranslatable(f"{where}[{i}]", f"{kind} parts cannot be sent to Anthropic")
        else:
            raise Untranslatable(f"{where}[{i}]", f"part type {kind!r} is not text or image_url")
    return blocks


def tool_id(call_id: str) -> str:
    """A Chat tool call id as Anthropic takes it: itself when it can, else a hash
    of it (the same for the call and its result)."""
    if _TOOL_ID.match(call_id):
        return call_id
    return "toolu_" + hashlib.sha256(call_id.encode()).hexdigest()[:24]


def _arguments(value: Any, where: str) -> dict[str, Any]:
    text = expect_string(value, where)
    if not text.strip():
        return {}  # some clients send "" for a call without arguments
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise Untranslatable(where, "is not JSON") from None
    if not isinstance(parsed, dict):
        raise Untranslatable(where, "must be a JSON object")
    return parsed


def _assistant_blocks(message: dict[str, Any], i: int, origin: dict[int, str]) -> list[dict[str, Any]]:
    texts = _text(message.get("content"), f"messages[{i}].content", refusals=True)
    refusal = message.get("refusal")
    if refusal is not None and expect_string(refusal, f"messages[{i}].refusal") and refusal not in texts:
        texts.append(refusal)  # an earlier answer's refusal, kept as what the model said
    blocks: list[dict[str, Any]] = [{"type": "text", "text": t} for t in texts]
    if message.get("function_call") is not None:
        raise Untranslatable(f"messages[{i}].function_call", _REFUSED["function_call"])
    calls = message.get("tool_calls")
    if calls is None:
        return blocks
    if not isinstance(calls, list):
        raise Untranslatable(f"messages[{i}].tool_calls", "must be a list")
    for j, call in enumerate(calls):
        where = f"messages[{i}].tool_calls[{j}]"
        call = expect_object(call, where)
        if call.get("type", "function") != "function":
            raise Untranslatable(f"{where}.type", f"{call.get('type')!r} tool calls cannot be sent to Anthropic")
        function = expect_object(call.get("function"), f"{where}.function")
        block = {"type": "tool_use", "id": tool_id(expect_string(call.get("id"), f"{where}.id")),
                 "name": expect_string(function.get("name"), f"{where}.function.name"),
                 "input": _arguments(function.get("arguments"), f"{where}.function.arguments")}
        origin[id(block)] = where
        blocks.append(block)
    return blocks


def _tool_result(message: dict[str, Any], i: int, origin: dict[int, str]) -> dict[str, Any]:
    where = f"messages[{i}].tool_call_id"
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id(expect_string(message.get("tool_call_id"), where))}
    content = message.get("content")
    if isinstance(content, str):
        if content.strip():
            block["content"] = content
    else:
        texts = _text(content, f"messages[{i}].content")
        if texts:
            block["content"] = [{"type": "text", "text": t} for t in texts]
    origin[id(block)] = where
    return block


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _check_tool_pairs(turns: list[dict[str, Any]], origin: dict[int, str]) -> None:
    """Every tool_use answered in the very next turn, every tool_result answering
    a call of the turn before it, once: what Anthropic (and Chat) insist on."""
    asked: dict[str, dict[str, Any]] = {}  # the previous assistant turn's calls, by id
    for turn in turns:
        if turn["role"] == "assistant":
            if asked:
                break  # reported below: the calls had no results
            asked = {b["id"]: b for b in turn["content"] if b["type"] == "tool_use"}
            continue
        for block in turn["content"]:
            if block["type"] != "tool_result":
                continue
            if asked.pop(block["tool_use_id"], None) is None:
                raise Untranslatable(origin[id(block)], "answers no tool call of the assistant message before it")
        if asked:
            break
    for call in asked.values():
        raise Untranslatable(origin[id(call)], "has no tool message answering it")


def _conversation(messages: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts and the Anthropic turns of a Chat conversation."""
    if not isinstance(messages, list) or not messages:
        raise Untranslatable("messages", "must be a non-empty list")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    origin: dict[int, str] = {}  # id() of a tool block -> the client field it came from
    first: dict[str, str] = {}  # role -> the first message of that role, for the error
    for i, message in enumerate(messages):
        message = expect_object(message, f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text(message.get("content"), f"messages[{i}].content"))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"messages[{i}].content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, i, origin)
        elif role == "tool":
            blocks, role = [_tool_result(message, i, origin)], "user"
        elif role == "function":
            raise Untranslatable(f"messages[{i}].role", "legacy function messages are not translated: use tool")
        else:
            raise Untranslatable(f"messages[{i}].role", f"{role!r} is not a Chat role")
        if blocks:
            first.setdefault(str(role), f"messages[{i}]")
        _append(turns, str(role), blocks)
    if not turns or turns[0]["role"] != "user":
        where = first.get("assistant", "messages")
        raise Untranslatable(where, "Anthropic needs the conversation to begin with a user message")
    for turn in turns:
        if turn["role"] == "user":  # tool results first, in the order of their messages
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    _check_tool_pairs(turns, origin)
    _trim_prefill(turns)
    return system, turns


def _trim_prefill(turns: list[dict[str, Any]]) -> None:
    """A last assistant turn is a prefill, which Anthropic refuses with trailing whitespace."""
    last = turns[-1]
    if last["role"] != "assistant" or last["content"][-1]["type"] != "text":
        return
    text = last["content"][-1]["text"].rstrip()
    if text:
        last["content"][-1] = {"type": "text", "text": text}
        return
    last["content"].pop()
    if not last["content"]:
        turns.pop()


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise Untranslatable("tools", "must be a list")
    out = []
    for i, tool in enumerate(tools):
        tool = expect_object(tool, f"tools[{i}]")
        if tool.get("type", "function") != "function":
            raise Untranslatable(f"tools[{i}].type", f"{tool.get('type')!r} tools cannot run on Anthropic")
        function = expect_object(tool.get("function"), f"tools[{i}].function")
        name = expect_string(function.get("name"), f"tools[{i}].function.name")
        if not _TOOL_NAME.match(name):
            raise Untranslatable(f"tools[{i}].function.name", "must be 1-64 letters, digits, _ or -")
        schema = function.get("parameters")
        if schema is None:
            schema = {"type": "object", "properties": {}}  # Chat's "no parameters"
        elif not isinstance(schema, dict) or schema.get("type") != "object":
            raise Untranslatable(f"tools[{i}].function.parameters", "must be a JSON schema of type object")
        translated: dict[str, Any] = {"name": name, "input_schema": schema}
        description = function.get("description")
        if description is not None:
            translated["description"] = expect_string(description, f"tools[{i}].function.description")
        out.append(translated)
    return out


def _tool_choice(choice: Any, names: set[str]) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    choice = expect_object(choice, "tool_choice")
    if choice.get("type") != "function":
        raise Untranslatable("tool_choice.type", f"{choice.get('type')!r} tool choices cannot be sent to Anthropic")
    name = expect_string(expect_object(choice.get("function"), "tool_choice.function").get("name"), "tool_choice.function.name")
    if name not in names:
        raise Untranslatable("tool_choice.function.name", f"{name!r} is not one of the tools")
    return {"type": "tool", "name": name}


def _refusals(data: dict[str, Any]) -> None:
    n = data.get("n")
    if n is not None and expect_count(n, "n") > 1:
        raise Untranslatable("n", "Anthropic makes one answer per request")
    logprobs = data.get("logprobs")
    if logprobs is not None and logprobs is not False:
        raise Untranslatable("logprobs", "Anthropic returns no log probabilities")
    for name, why in _REFUSED.items():
        value = data.get(name)
        if value is not None and not any(value == v and type(value) is type(v) for v in _HARMLESS.get(name, ())):
            raise Untranslatable(name, why)
    modalities = data.get("modalities")
    if modalities is not None and (not isinstance(modalities, list) or any(m != "text" for m in modalities)):
        raise Untranslatable("modalities", "Anthropic answers in text only")


def _stop(stop: Any) -> list[str]:
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise Untranslatable("stop", "must be a string or a list of strings")
    return [s for s in stops if s]


def _output_format(fmt: Any) -> dict[str, Any] | None:
    fmt = expect_object(fmt, "response_format")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        raise Untranslatable("response_format", "Anthropic has no free JSON mode: send a json_schema format")
    if kind != "json_schema":
        raise Untranslatable("response_format.type", f"{kind!r} is not text, json_object or json_schema")
    schema = expect_object(fmt.get("json_schema"), "response_format.json_schema").get("schema")
    return {"type": "json_schema", "schema": expect_object(schema, "response_format.json_schema.schema")}


def _limit(data: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        if data.get(name) is not None:
            return expect_count(data[name], name)
    return None


def _thinking(effort: Any, limit: int | None, out: dict[str, Any], turns: list[dict[str, Any]]) -> None:
    """reasoning_effort as a thinking budget, where Anthropic would take one (module docstring)."""
    if effort is None or effort == "none":
        return
    if not isinstance(effort, str) or effort not in _EFFORT_BUDGET:
        raise Untranslatable("reasoning_effort", f"{effort!r} is not a known effort")
    if _NO_THINKING.search(out["model"]):
        return
    last = turns[-1]
    forced = out.get("tool_choice", {}).get("type") in ("any", "tool")
    if forced or last["role"] == "assistant" or any(b["type"] == "tool_result" for b in last["content"]):
        return
    budget = _EFFORT_BUDGET[effort]
    if limit is None:
        out["max_tokens"] = min(budget + DEFAULT_MAX_TOKENS, _THINKING_MAX_TOKENS)
    else:
        budget = min(budget, limit - 1)
        if budget < _MIN_BUDGET:
            return
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}


def request(data: dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """A Messages body for a Chat Completions body, or Untranslatable."""
    if not isinstance(data, dict):
        raise Untranslatable("body", "must be a JSON object")
    _refusals(data)
    system, turns = _conversation(data.get("messages"))
    limit = _limit(data)
    out: dict[str, Any] = {"model": options.model, "max_tokens": limit or DEFAULT_MAX_TOKENS, "messages": turns}
    if system:
        out["system"] = "\n\n".join(system)
    if data.get("stop") is not None:
        stops = _stop(data["stop"])
        if stops:
            out["stop_sequences"] = stops
    tools = _tools(data["tools"]) if data.get("tools") is not None else []
    if tools:
        out["tools"] = tools
        if data.get("tool_choice") is not None:
            out["tool_choice"] = _tool_choice(data["tool_choice"], {t["name"] for t in tools})
        if data.get("parallel_tool_calls") is False and out.get("tool_choice", {}).get("type") != "none":
            out["tool_choice"] = {**out.get("tool_choice", {"type": "auto"}), "disable_parallel_tool_use": True}
    elif data.get("tool_choice") not in (None, "none", "auto"):
        raise Untranslatable("tool_choice", "asks for a tool call but no tools are given")
    if data.get("response_format") is not None:
        fmt = _output_format(data["response_format"])
        if fmt is not None:
            out["output_config"] = {"format": fmt}
    _thinking(data.get("reasoning_effort"), limit, out, turns)
    end_users = [expect_string(data[name], name) for name in ("safety_identifier", "user") if data.get(name) is not None]
    if any(end_users):
        out["metadata"] = {"user_id": next(u for u in end_users if u)}
    stream = data.get("stream") is True
    if stream:
        out["stream"] = True
    for name in options.drop:
        out.pop(name, None)
    return TranslatedRequest(body=out, path=wire.MESSAGES_PATH, stream=stream,
                             reply=Reply(options.client_model, openai_chat.client_wants_usage(data)))


@dataclass(frozen=True)
class Reply:
    """What a chat request's answer and stream need of it (`TranslatedRequest.reply`)."""

    model: str  # the client's model name, which its answer carries
    # The stream's usage chunk, written only when the client asked for it
    # (`stream_options.include_usage`); the meter reads the translator's own count.
    include_usage: bool = True


def _answer(body: bytes, reply: Reply) -> bytes:
    return answer(body, reply.model)


def _stream(reply: Reply) -> AnthropicToChatStream:
    return AnthropicToChatStream(reply.model, include_usage=reply.include_usage)


BRIDGE = Bridge(
    client=wire.OPENAI_CHAT,
    upstream=wire.ANTHROPIC_MESSAGES,
    request=request,
    answer=_answer,
    error=error,
    stream=_stream,
)

# `stream_for(body, model)`: the stream writer for one request, told whether the client asked for usage.
__all__ = ["BRIDGE", "Reply", "request", "stream_for", "tool_id"]
