"""OpenAI Responses clients (the openai SDK, Codex CLI) on Anthropic accounts: the request, and the pair's `BRIDGE`.

The Messages body is built from scratch, field by field, so a Responses field
this module does not read is never forwarded. The whole conversation travels
on every request: Anthropic keeps no server-side state, so
`previous_response_id`, `conversation` and stored `prompt`s are refused (a
400 saying so) and `store` is ignored (nothing is stored either way; Codex
sends `store: false`).

The conversation (`instructions` and `input`):
- `instructions`, then every `system` / `developer` message, in order, make the
  one `system` prompt (the Messages API has no system text mid-conversation).
- Message items become user and assistant messages; consecutive items of one
  role merge into one message (strict alternation), and a user message holds
  its `tool_result` blocks first. The conversation must begin with a user
  message, and may not end with an assistant one (Anthropic would continue that
  text instead of answering after it).
- Parts: `input_text` / `output_text` / `refusal` -> text; `input_image` ->
  image (a `data:` URL as base64, an http(s) URL as a URL source; file ids name
  OpenAI's files: 400); `input_file` -> a document only when it is a base64 PDF
  (`file_data`), else 400.
- `function_call` -> `tool_use` under its `call_id`, `function_call_output` ->
  `tool_result`; `custom_tool_call` / `custom_tool_call_output` likewise, the
  input as the tool's one string argument `input` (answer module's
  `CUSTOM_INPUT`); `local_shell_call` -> a `tool_use` of the `local_shell`
  tool, its result by `function_call_output` or `local_shell_call_output`.
  Every call needs its output in the next user turn and every output its call
  (Anthropic refuses either alone): a 400 names the item otherwise.
- `reasoning` items: the gateway's own (answer module's `THINKING_PREFIX` in
  `encrypted_content`) are restored as the exact thinking block; OpenAI's are
  another vendor's and dropped. `web_search_call` items are dropped (the search
  ran on OpenAI's side; the answer that used it is in the assistant's text),
  and so are `compaction` items (OpenAI's encrypted summary of earlier turns,
  readable only by OpenAI). `item_reference` and the items of OpenAI's hosted
  tools (file search, computer use, code interpreter, image generation, MCP)
  are refused by name.

Tools: `function` tools keep name, description and `parameters` as the
`input_schema` (`strict` dropped: Anthropic's strict mode is not on every
model). Codex's `type: custom` tools (`apply_patch`, with a `format` grammar)
become a tool with one required string argument `input` described as "The
tool's raw input, as plain text (not JSON)", followed by the grammar
(`format.definition`, with its syntax) when there is one: Anthropic cannot
enforce a grammar, so the model is shown it. The built-in `local_shell` becomes
the `local_shell` tool (`command` as an argv list, `workdir`, `timeout_ms`).
A client-run `tool_search` (Codex runs it itself) becomes the `tool_search`
tool with its `parameters`; its `tool_search_call` items a `tool_use`, and its
`tool_search_output` items a `tool_result` naming the tools found, which are
offered from then on (a search that finds a tool again adds nothing). The
function and custom tools of a `namespace` become `<namespace>__<name>`
(answer module's `NAMESPACE_SEPARATOR`), their descriptions led by the
namespace's, and calls (and a `tool_choice`) that name a `namespace` are
matched so. Tools marked `defer_loading` are offered at once (Anthropic
accounts here have no deferred tools). `web_search` / `web_search_preview`
are dropped: a hosted search offered to the model, which Anthropic accounts
here cannot run (the model answers without it; Codex offers it on every
request). Every other hosted tool (`file_search`, `computer_use_preview`,
`code_interpreter`, `image_generation`, `mcp`, a server-run `tool_search`,
`shell`, `apply_patch`, ...) is refused naming it. `tool_choice`: auto /
required (any) / none / a function or custom tool by name;
`parallel_tool_calls: false` -> `disable_parallel_tool_use`. A request that offers no tools but whose
conversation holds tool calls (Codex's compaction turn sends `tools: []`) gets
a stand-in tool per name called, with `tool_choice: none`: Anthropic refuses
tool calls in a conversation without tools, and the model still calls none.

Thinking: `reasoning.effort` becomes `thinking{type: enabled, budget_tokens}`
from `EFFORT_BUDGETS` (none: no thinking); Anthropic clients' budget -> effort
rule in the other pairs (under 8192 low, under 24576 medium, else high) reads
these back as the same effort. The budget must stay under `max_tokens`: with
`max_output_tokens` (which counts reasoning too) the budget is at most half of
it, and under `MIN_THINKING_BUDGET` no thinking is asked for; without it,
`max_tokens` is `DEFAULT_MAX_TOKENS` + the budget, capped at
`MAX_TOKENS_WITH_THINKING` (the smallest output limit of current Claude
models). Thinking is also left off where Anthropic would refuse it: a model
from before extended thinking (Claude 3.5 and older), a forced tool choice,
or a tool loop whose last assistant turn has no thinking block to begin with
(a conversation started elsewhere, or a client that dropped reasoning items).

Other fields: `max_output_tokens` -> `max_tokens` (else `DEFAULT_MAX_TOKENS`,
8192: Anthropic requires one, and this is the output limit every Claude model
since 3.5 takes); `text.format` json_schema -> `output_config.format` (json_object
mode has no schema to give: 400); `safety_identifier`, else `user`, ->
`metadata.user_id` (hashed beyond `MAX_USER_ID`); `stream` as asked.
`DROPPED_FIELDS` and `SAMPLING_FIELDS` list what is dropped knowingly.

The answer and the stream are in the sibling modules `_answer` and `_stream`;
what they need of the request (which tools were custom, namespaced or the
search, whether summaries were asked for) is `reply_context(body)`: the
request hands it, with the client's model, to `BRIDGE.answer` / `BRIDGE.stream`
as its `Reply`, and `answer_for` / `stream_for` do the same from a body.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import orjson

from .. import wire
from .base import Bridge, RequestOptions, TranslatedRequest, Untranslatable
from .openai_responses_anthropic_answer import (
    CUSTOM_INPUT,
    LOCAL_SHELL,
    NAMESPACE_SEPARATOR,
    TOOL_SEARCH,
    ReplyContext,
    answer,
    decode_thinking,
    error,
)
from .openai_responses_anthropic_stream import AnthropicToResponsesStream

# Anthropic requires max_tokens; 8192 is what every Claude model since 3.5 can write.
DEFAULT_MAX_TOKENS = 8192
# The smallest output limit of current Claude models (Opus 4 / 4.1: 32000).
MAX_TOKENS_WITH_THINKING = 32000
# Anthropic's least thinking budget.
MIN_THINKING_BUDGET = 1024
# reasoning.effort -> thinking budget; each reads back as the same effort
# through the other pairs' budget rule (xhigh as high: the rule tops out there).
EFFORT_BUDGETS = {"minimal": 1024, "low": 4096, "medium": 16384, "high": 24576, "xhigh": 28672}
_EFFORTS = frozenset(EFFORT_BUDGETS) | {"none"}
# Claude models from before extended thinking (3.7 Sonnet was the first): they
# refuse a `thinking` field, so reasoning.effort asks for nothing there. Found
# anywhere in the name, so Bedrock ids (`us.anthropic.claude-3-5-haiku-…`) match.
_NO_THINKING = re.compile(r"claude-(instant|2|3-opus|3-sonnet|3-haiku|3-5-)")
# Anthropic's limit on metadata.user_id.
MAX_USER_ID = 256

# Responses fields read nowhere below, on purpose: each changes nothing the
# answer depends on, or asks for something Anthropic does by itself.
DROPPED_FIELDS = frozenset({
    "store",  # nothing is stored either way (see above)
    "client_metadata",  # Codex's session and turn ids, for OpenAI's own logs
    "include",  # what extra output to include: reasoning items always carry their encrypted_content
    "prompt_cache_key", "prompt_cache_retention",  # OpenAI's cache routing
    "service_tier",  # OpenAI's capacity tiers
    "truncation",  # OpenAI's context truncation: the whole input is sent; a too-long one is Anthropic's 400
    "metadata",  # OpenAI's stored-response tags: Anthropic's metadata takes only a user id
    "stream_options",  # obfuscation padding of stream events
    "max_tool_calls",  # a cap on hosted-tool calls: none are offered
    "context_management",  # OpenAI's server-side compaction threshold
    "text.verbosity",  # no counterpart; the instructions say how terse to be
    "reasoning.summary", "reasoning.generate_summary",  # read by reply_context, not sent
})
# Sampling fields: current Anthropic API versions take none of them.
SAMPLING_FIELDS = ("temperature", "top_p", "top_logprobs")

_HOSTED_DROPPED = frozenset({"web_search", "web_search_preview", "web_search_preview_2025_03_11"})
_DROPPED_ITEMS = frozenset({"web_search_call", "compaction", "compaction_summary"})
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.+)", re.DOTALL)
_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _string(value: Any, at: str) -> str:
    if not isinstance(value, str) or not value:
        raise Untranslatable(at, "must be a non-empty string")
    return value


def request(body: dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """A Responses body as an Anthropic Messages body; Untranslatable names what cannot go."""
    if not isinstance(body, dict):
        raise Untranslatable("body", "must be a JSON object")
    _refuse_state(body)
    offered = _Tools()
    offered.offer(body.get("tools"), "tools")
    system, messages = _Conversation(offered).build(body.get("instructions"), body.get("input"))
    tools = offered.tools or _history_tools(messages)
    stream = body.get("stream") is True
    limit = body.get("max_output_tokens")
    if limit is not None and (not _is_int(limit) or limit < 1):
        raise Untranslatable("max_output_tokens", "must be a positive integer")
    out: dict[str, Any] = {"model": options.model, "max_tokens": limit or DEFAULT_MAX_TOKENS, "messages": messages}
    if system:
        out["system"] = system
    forced = False
    if tools and not offered.tools:
        out["tools"], out["tool_choice"] = tools, {"type": "none"}
    elif tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), offered.kinds, body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
            forced = choice["type"] in ("any", "tool")
    budget = _budget(body.get("reasoning"), limit)
    if budget is not None and not forced and _thinking_allowed(messages) and not _NO_THINKING.search(options.model):
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if limit is None:
            out["max_tokens"] = min(DEFAULT_MAX_TOKENS + budget, MAX_TOKENS_WITH_THINKING)
    text_format = _text_format(body.get("text"))
    if text_format is not None:
        out["output_config"] = {"format": text_format}
    user = _end_user(body)
    if user is not None:
        out["metadata"] = {"user_id": user}
    out["stream"] = stream
    for name in options.drop:
        out.pop(name, None)
    return TranslatedRequest(body=out, path=wire.MESSAGES_PATH, stream=stream,
                             reply=Reply(options.client_model, reply_context(body)))


def reply_context(body: Any) -> ReplyContext:
    """What the answer and stream need of the client's body (never raises: the request refuses bad ones)."""
    if not isinstance(body, dict):
        return ReplyContext()
    reasoning = body.get("reasoning")
    summary = isinstance(reasoning, dict) and any(
        reasoning.get(key) not in (None, "none") for key in ("summary", "generate_summary"))
    offered = _Tools()
    try:
        offered.offer(body.get("tools"), "tools")
        items = body.get("input")
        for i, item in enumerate(items if isinstance(items, list) else ()):
            if isinstance(item, dict) and item.get("type") == "tool_search_output":
                offered.offer(item.get("tools"), f"input[{i}].tools", loaded=True)
    except Untranslatable:
        return ReplyContext(summary=summary)
    return offered.context(summary)


def answer_for(body: Any, upstream: bytes, model: str) -> bytes:
    """The Anthropic answer to the client's `body`, as its Responses answer (`answer` with its context)."""
    return answer(upstream, model, reply_context(body))


def stream_for(body: Any, model: str) -> AnthropicToResponsesStream:
    """A stream translator for the client's `body` (`BRIDGE.stream` with its context)."""
    return AnthropicToResponsesStream(model, reply_context(body))


def _refuse_state(body: dict[str, Any]) -> None:
    """Fields that name state kept on OpenAI's side, which an Anthropic account cannot read."""
    for name, what in (("previous_response_id", "an earlier response"), ("conversation", "a stored conversation"),
                       ("prompt", "a stored prompt template")):
        if body.get(name) is not None:
            raise Untranslatable(name, f"names {what} kept by OpenAI; Anthropic accounts keep no server-side "
                                 "state: send the whole conversation in `input` instead")
    if body.get("background") is True:
        raise Untranslatable("background", "Anthropic accounts cannot run a response in the background")


# --- tools ---------------------------------------------------------------------


_SHELL_TOOL: dict[str, Any] = {
    "name": LOCAL_SHELL,
    "description": "Runs a command on the user's machine and returns its output.",
    "input_schema": {
        "type": "object",
        "properties": {
            "command": {"type": "array", "items": {"type": "string"},
                        "description": "The command and its arguments, as an argv list."},
            "workdir": {"type": "string", "description": "The directory to run it in."},
            "timeout_ms": {"type": "integer", "description": "How long it may run, in milliseconds."},
        },
        "required": ["command"],
    },
}


class _Tools:
    """The Anthropic tools a request offers: its own, and those a client-run tool search loaded."""

    def __init__(self) -> None:
        self.tools: list[dict[str, Any]] = []
        self.kinds: dict[str, str] = {}  # Anthropic name -> its Responses tool type
        self.namespaced: dict[str, tuple[str, str]] = {}  # Anthropic name -> (namespace, own name)

    def offer(self, tools: Any, at: str, loaded: bool = False) -> None:
        """`tools` (a body's `tools`, or a tool_search_output's) added; a tool search may load a
        tool again, a body may not name one twice."""
        if tools is None:
            return
        if not isinstance(tools, list):
            raise Untranslatable(at, "must be a list")
        for i, tool in enumerate(tools):
            self._one(tool, f"{at}[{i}]", None, loaded)

    def _one(self, tool: Any, at: str, namespace: dict[str, Any] | None, loaded: bool) -> None:
        if not isinstance(tool, dict):
            raise Untranslatable(at, "must be an object")
        kind = tool.get("type")
        if not isinstance(kind, str):
            raise Untranslatable(f"{at}.type", "must be a string")
        if kind in _HOSTED_DROPPED and namespace is None:
            return
        if kind == "namespace" and namespace is None:
            name = _string(tool.get("name"), f"{at}.name")
            inner = tool.get("tools")
            if not isinstance(inner, list):
                raise Untranslatable(f"{at}.tools", "must be a list")
            for k, member in enumerate(inner):
                self._one(member, f"{at}.tools[{k}]", {**tool, "name": name}, loaded)
            return
        if kind == "function":
            made = _function_tool(tool, at)
        elif kind == "custom":
            made = _custom_tool(tool, at)
        elif kind == "local_shell" and namespace is None:
            made = dict(_SHELL_TOOL)
        elif kind == "tool_search" and namespace is None and tool.get("execution") == "client":
            made = _search_tool(tool, at)
        else:
            raise Untranslatable(f"{at}.type", f"the hosted tool {kind!r} cannot run on Anthropic accounts")
        if namespace is not None:
            own = made["name"]
            made["name"] = namespace["name"] + NAMESPACE_SEPARATOR + own
            described = [text for text in (namespace.get("description"), made.get("description"))
                         if isinstance(text, str) and text]
            if described:
                made["description"] = "\n\n".join(described)
            self.namespaced[made["name"]] = (namespace["name"], own)
        if made["name"] in self.kinds:
            if loaded:
                return
            raise Untranslatable(f"{at}.name", f"a second tool named {made['name']!r}")
        self.kinds[made["name"]] = kind
        self.tools.append(made)

    def context(self, summary: bool) -> ReplyContext:
        return ReplyContext(
            custom_tools=frozenset(name for name, kind in self.kinds.items() if kind == "custom"),
            local_shell=self.kinds.get(LOCAL_SHELL) == "local_shell",
            tool_search=self.kinds.get(TOOL_SEARCH) == "tool_search",
            namespaced=dict(self.namespaced), summary=summary)


def _history_tools(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stand-ins for the tools a conversation called when the request offers none (Codex's compaction
    turn): Anthropic refuses tool calls in a conversation without tools, and `tool_choice: none` keeps
    the model from calling them, as a request with no tools would."""
    names = dict.fromkeys(b["name"] for m in messages for b in m["content"] if b["type"] == "tool_use")
    return [{"name": name, "description": "A tool called earlier in this conversation; not offered now.",
             "input_schema": {"type": "object"}} for name in names]


def _search_tool(tool: dict[str, Any], at: str) -> dict[str, Any]:
    schema = tool.get("parameters")
    if schema is None:
        schema = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise Untranslatable(f"{at}.parameters", "must be a JSON Schema of type 'object'")
    made: dict[str, Any] = {"name": TOOL_SEARCH, "input_schema": schema}
    if isinstance(tool.get("description"), str) and tool["description"]:
        made["description"] = tool["description"]
    return made


def _function_tool(tool: dict[str, Any], at: str) -> dict[str, Any]:
    name = _string(tool.get("name"), f"{at}.name")
    schema = tool.get("parameters")
    if schema is None:
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise Untranslatable(f"{at}.parameters", "must be a JSON Schema of type 'object'")
    made: dict[str, Any] = {"name": name, "input_schema": schema}
    if isinstance(tool.get("description"), str) and tool["description"]:
        made["description"] = tool["description"]
    return made


def _custom_tool(tool: dict[str, Any], at: str) -> dict[str, Any]:
    name = _string(tool.get("name"), f"{at}.name")
    argument = "The tool's raw input, as plain text (not JSON)."
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        definition = _string(fmt.get("definition"), f"{at}.format.definition")
        syntax = fmt.get("syntax") if isinstance(fmt.get("syntax"), str) else "grammar"
        argument += f" It must follow this {syntax} grammar:\n{definition}"
    elif fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise Untranslatable(f"{at}.format", "must be {type: text} or {type: grammar, syntax, definition}")
    made: dict[str, Any] = {"name": name, "input_schema": {
        "type": "object", "properties": {CUSTOM_INPUT: {"type": "string", "description": argument}},
        "required": [CUSTOM_INPUT]}}
    if isinstance(tool.get("description"), str) and tool["description"]:
        made["description"] = tool["description"]
    return made


def _tool_choice(choice: Any, kinds: dict[str, str], parallel: Any) -> dict[str, Any] | None:
    serial = parallel is False
    if choice is None or choice == "auto":
        return {"type": "auto", "disable_parallel_tool_use": True} if serial else None
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        made: dict[str, Any] = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        name = _string(choice.get("name"), "tool_choice.name")
        if choice.get("namespace") is not None:
            name = _string(choice["namespace"], "tool_choice.namespace") + NAMESPACE_SEPARATOR + name
        if name not in kinds:
            raise Untranslatable("tool_choice.name", f"names no tool of this request: {name!r}")
        made = {"type": "tool", "name": name}
    else:
        raise Untranslatable("tool_choice", "must be auto, required, none or a function or custom tool by name")
    if serial:
        made["disable_parallel_tool_use"] = True
    return made


# --- thinking, format, end user --------------------------------------------------


def _budget(reasoning: Any, limit: int | None) -> int | None:
    """The thinking budget asked for, fitted under the output limit; None for no thinking."""
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise Untranslatable("reasoning", "must be an object")
    effort = reasoning.get("effort")
    if effort is None or effort == "none":
        return None
    if not isinstance(effort, str) or effort not in _EFFORTS:
        raise Untranslatable("reasoning.effort", "must be none, minimal, low, medium, high or xhigh")
    budget = EFFORT_BUDGETS[effort]
    if limit is not None:
        budget = min(budget, limit // 2)
    return budget if budget >= MIN_THINKING_BUDGET else None


def _thinking_allowed(messages: list[dict[str, Any]]) -> bool:
    """False for a tool loop whose last assistant turn does not begin with a thinking block."""
    last = messages[-1]["content"]
    if not any(block.get("type") == "tool_result" for block in last):
        return True
    assistant = messages[-2]["content"] if len(messages) > 1 else []
    return bool(assistant) and assistant[0].get("type") in ("thinking", "redacted_thinking")


def _text_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise Untranslatable("text", "must be an object")
    fmt = text.get("format")
    if fmt is None or (isinstance(fmt, dict) and fmt.get("type") == "text"):
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise Untranslatable("text.format", "Anthropic accounts take a json_schema format with a schema (JSON "
                             "mode without a schema has no counterpart)")
    return {"type": "json_schema", "schema": fmt["schema"]}


def _end_user(body: dict[str, Any]) -> str | None:
    for name in ("safety_identifier", "user"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Untranslatable(name, "must be a string")
        if value:
            return value if len(value) <= MAX_USER_ID else hashlib.sha256(value.encode()).hexdigest()
    return None


# --- the conversation ----------------------------------------------------------------


class _Conversation:
    """Input items folded into Anthropic's system prompt and alternating messages."""

    def __init__(self, tools: _Tools) -> None:
        self._tools = tools
        self._system: list[str] = []
        self._pieces: list[tuple[str, dict[str, Any]]] = []  # (role, block) in input order
        self._calls: dict[str, str] = {}  # tool_use id -> the input item that made it
        self._outputs: dict[str, str] = {}  # tool_result id -> the input item that made it
        self._shell_ids: dict[str, str] = {}  # local_shell_call item id -> its call id

    def build(self, instructions: Any, items: Any) -> tuple[str, list[dict[str, Any]]]:
        if instructions is not None and not isinstance(instructions, str):
            raise Untranslatable("instructions", "must be a string")
        if instructions:
            self._system.append(instructions)
        if isinstance(items, str):
            items = [{"type": "message", "role": "user", "content": items}]
        if not isinstance(items, list) or not items:
            raise Untranslatable("input", "must be a non-empty string or list of items")
        for i, item in enumerate(items):
            self._item(item, f"input[{i}]")
        messages = _messages(self._pieces)
        if not messages:
            raise Untranslatable("input", "holds no user or assistant content to send")
        self._check(messages)
        return "\n\n".join(self._system), messages

    def _add(self, role: str, block: dict[str, Any]) -> None:
        self._pieces.append((role, block))

    def _item(self, item: Any, at: str) -> None:
        if not isinstance(item, dict):
            raise Untranslatable(at, "must be an object")
        kind = item.get("type", "message")
        if not isinstance(kind, str):
            raise Untranslatable(f"{at}.type", "must be a string")
        if kind == "message":
            self._message(item, at)
        elif kind == "function_call":
            arguments = item.get("arguments")
            try:
                parsed = orjson.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
            except orjson.JSONDecodeError:
                parsed = None
            if not isinstance(parsed, dict):
                raise Untranslatable(f"{at}.arguments", "must be a JSON object in a string")
            self._call(item, at, parsed)
        elif kind == "custom_tool_call":
            if not isinstance(item.get("input"), str):
                raise Untranslatable(f"{at}.input", "must be a string")
            self._call(item, at, {CUSTOM_INPUT: item["input"]})
        elif kind == "local_shell_call":
            self._shell_call(item, at)
        elif kind == "tool_search_call":
            self._client_run(item, at)
            if not isinstance(item.get("arguments"), dict):
                raise Untranslatable(f"{at}.arguments", "must be an object")
            self._call({"call_id": item.get("call_id"), "name": TOOL_SEARCH}, at, item["arguments"])
        elif kind == "tool_search_output":
            self._client_run(item, at)
            self._search_output(item, at)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            self._output(_string(item.get("call_id"), f"{at}.call_id"), item.get("output"), at)
        elif kind == "local_shell_call_output":
            call = _string(item.get("id"), f"{at}.id")
            self._output(self._shell_ids.get(call, call), item.get("output"), at)
        elif kind == "reasoning":
            block = decode_thinking(item.get("encrypted_content"))
            if block is not None:
                self._add("assistant", block)
        elif kind not in _DROPPED_ITEMS:
            raise Untranslatable(f"{at}.type", f"a {kind!r} item cannot be sent to an Anthropic account")

    def _message(self, item: dict[str, Any], at: str) -> None:
        role = item.get("role")
        if not isinstance(role, str) or role not in _MESSAGE_ROLES:
            raise Untranslatable(f"{at}.role", "must be user, assistant, system or developer")
        content = item.get("content")
        parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            raise Untranslatable(f"{at}.content", "must be a string or a list of parts")
        for j, part in enumerate(parts):
            where = f"{at}.content[{j}]"
            if not isinstance(part, dict):
                raise Untranslatable(where, "must be an object")
            block = _part(part, where, "user" if role == "user" else "text")
            if block is None:
                continue
            if role in ("system", "developer"):
                self._system.append(block["text"])
            else:
                self._add(str(role), block)

    def _client_run(self, item: dict[str, Any], at: str) -> None:
        if item.get("execution", "client") != "client":
            # A search OpenAI ran: its results live on OpenAI's side.
            raise Untranslatable(f"{at}.execution", "only a client-run tool search can be sent to an Anthropic "
                                 "account")

    def _search_output(self, item: dict[str, Any], at: str) -> None:
        """The tools a client-run search found: offered from here on, and named in the call's result."""
        found = _Tools()
        found.offer(item.get("tools"), f"{at}.tools", loaded=True)
        self._tools.offer(item.get("tools"), f"{at}.tools", loaded=True)
        names = ", ".join(tool["name"] for tool in found.tools)
        self._output(_string(item.get("call_id"), f"{at}.call_id"),
                     f"Tools now available: {names}." if names else "No tools found.", at)

    def _call(self, item: dict[str, Any], at: str, arguments: dict[str, Any]) -> None:
        call_id = _string(item.get("call_id"), f"{at}.call_id")
        name = _string(item.get("name"), f"{at}.name")
        if item.get("namespace") is not None:
            name = _string(item["namespace"], f"{at}.namespace") + NAMESPACE_SEPARATOR + name
        if call_id in self._calls:
            raise Untranslatable(f"{at}.call_id", f"a second call with the id {call_id!r}")
        self._calls[call_id] = at
        self._add("assistant", {"type": "tool_use", "id": call_id, "name": name, "input": arguments})

    def _shell_call(self, item: dict[str, Any], at: str) -> None:
        action = item.get("action")
        if not isinstance(action, dict) or not isinstance(action.get("command"), list) \
                or not all(isinstance(part, str) for part in action["command"]):
            raise Untranslatable(f"{at}.action", "must be {type: exec, command: [strings], ...}")
        arguments: dict[str, Any] = {"command": action["command"]}
        if isinstance(action.get("working_directory"), str):
            arguments["workdir"] = action["working_directory"]
        if _is_int(action.get("timeout_ms")):
            arguments["timeout_ms"] = action["timeout_ms"]
        call_id = item.get("call_id") or item.get("id")
        if isinstance(item.get("id"), str) and isinstance(call_id, str):
            self._shell_ids[item["id"]] = call_id
        self._call({"call_id": call_id, "name": LOCAL_SHELL}, at, arguments)

    def _output(self, call_id: str, output: Any, at: str) -> None:
        if call_id in self._outputs:
            raise Untranslatable(at, f"a second output for the call {call_id!r}")
        self._outputs[call_id] = at
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
        if isinstance(output, str):
            if output:
                block["content"] = output
        elif isinstance(output, list):
            content = []
            for k, part in enumerate(output):
                if not isinstance(part, dict):
                    raise Untranslatable(f"{at}.output[{k}]", "must be an object")
                made = _part(part, f"{at}.output[{k}]", "user")
                if made is not None:
                    content.append(made)
            if content:
                block["content"] = content
        elif output is not None:
            raise Untranslatable(f"{at}.output", "must be a string or a list of parts")
        self._add("user", block)

    def _check(self, messages: list[dict[str, Any]]) -> None:
        """Anthropic's rules for a conversation: starts with the user, ends with them, calls and results paired."""
        if messages[0]["role"] != "user":
            raise Untranslatable("input", "must begin with a user message: the Messages API requires it")
        if messages[-1]["role"] != "user":
            raise Untranslatable("input", "ends with an assistant turn: Anthropic would continue it rather than "
                                 "answer after it")
        for n, message in enumerate(messages):
            if message["role"] == "assistant":
                called = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
                answered = {b["tool_use_id"] for b in messages[n + 1]["content"] if b["type"] == "tool_result"}
                for call_id in called:
                    if call_id not in answered:
                        raise Untranslatable(self._calls[call_id], f"the call {call_id!r} has no output right "
                                             "after it: Anthropic needs each call's result in the next turn")
            else:
                before = messages[n - 1]["content"] if n else []
                called_before = {b["id"] for b in before if b["type"] == "tool_use"}
                for b in message["content"]:
                    if b["type"] == "tool_result" and b["tool_use_id"] not in called_before:
                        raise Untranslatable(self._outputs[b["tool_use_id"]], f"the output for "
                                             f"{b['tool_use_id']!r} follows no call of that id in the turn "
                                             "before it")


def _messages(pieces: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Blocks grouped into alternating messages: assistant turns of thinking alone dropped (nothing to
    answer after), user turns with their tool results first."""
    grouped: list[dict[str, Any]] = []
    for role, block in pieces:
        if grouped and grouped[-1]["role"] == role:
            grouped[-1]["content"].append(block)
        else:
            grouped.append({"role": role, "content": [block]})
    messages: list[dict[str, Any]] = []
    for message in grouped:
        if message["role"] == "assistant" and all(
                b["type"] in ("thinking", "redacted_thinking") for b in message["content"]):
            continue
        if messages and messages[-1]["role"] == message["role"]:
            messages[-1]["content"] += message["content"]
        else:
            messages.append(message)
    for message in messages:
        if message["role"] == "user":
            content = message["content"]
            message["content"] = ([b for b in content if b["type"] == "tool_result"]
                                  + [b for b in content if b["type"] != "tool_result"])
    return messages


def _part(part: dict[str, Any], at: str, where: str) -> dict[str, Any] | None:
    """A content part as an Anthropic block (None for an empty text); `where` is "user" (images and
    files allowed) or "text" (assistant and system text only)."""
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text", "refusal"):
        key = "refusal" if kind == "refusal" else "text"
        if not isinstance(part.get(key), str):
            raise Untranslatable(f"{at}.{key}", "must be a string")
        return {"type": "text", "text": part[key]} if part[key] else None
    if where != "user":
        raise Untranslatable(f"{at}.type", f"a {kind!r} part has no place outside a user message")
    if kind == "input_image":
        return _image(part, at)
    if kind == "input_file":
        return _file(part, at)
    raise Untranslatable(f"{at}.type", f"a {kind!r} part cannot be sent to an Anthropic account")


def _image(part: dict[str, Any], at: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise Untranslatable(f"{at}.image_url", "must be a data: or http(s) URL (OpenAI file ids name OpenAI's "
                             "files)")
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise Untranslatable(f"{at}.image_url", "must be a base64 data: URL or an http(s) URL")
    media = match.group(1).lower()
    if media not in _IMAGE_TYPES:
        raise Untranslatable(f"{at}.image_url", f"Anthropic takes JPEG, PNG, GIF and WebP images, not {media}")
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": match.group(2)}}


def _file(part: dict[str, Any], at: str) -> dict[str, Any]:
    data = part.get("file_data")
    match = _DATA_URL.fullmatch(data) if isinstance(data, str) else None
    if match is None or match.group(1).lower() != "application/pdf":
        raise Untranslatable(at, "only a PDF given inline (file_data, a base64 data: URL) can be sent to an "
                             "Anthropic account")
    block: dict[str, Any] = {"type": "document",
                             "source": {"type": "base64", "media_type": "application/pdf", "data": match.group(2)}}
    if isinstance(part.get("filename"), str) and part["filename"]:
        block["title"] = part["filename"]
    return block


@dataclass(frozen=True)
class Reply:
    """What a Responses request's answer and stream need of it (`TranslatedRequest.reply`)."""

    model: str  # the client's model name, which its answer carries
    # Which tools were custom, namespaced or the search, whether summaries were
    # asked for (`reply_context`); the default knows nothing of the request:
    # every tool call comes back a function_call and no summary is shown.
    context: ReplyContext = field(default_factory=ReplyContext)


def _answer(body: bytes, reply: Reply) -> bytes:
    return answer(body, reply.model, reply.context)


def _stream(reply: Reply) -> AnthropicToResponsesStream:
    return AnthropicToResponsesStream(reply.model, reply.context)


BRIDGE = Bridge(
    client=wire.OPENAI_RESPONSES,
    upstream=wire.ANTHROPIC_MESSAGES,
    request=request,
    answer=_answer,
    error=error,
    stream=_stream,
)
