"""Gemini clients (google-genai, Gemini CLI) on Anthropic upstreams: the request.

A GenerateContentRequest becomes a Messages body for `wire.MESSAGES_PATH`. The
client names its model in the URL path (the route drops a `model` in the
body): `RequestOptions.model` is the upstream's name, and the client's name
reaches the answer and the stream as their `Reply.model` (from
`RequestOptions.client_model`). Whether to stream is the route's to say (the
method, not the body, asks for it): `RequestOptions.stream`, set for
`streamGenerateContent` (Gemini has no body field for it, and one in the
body is not read); `gemini_anthropic_stream` writes SSE when the client's query
says `alt=sse` (`RequestOptions.client_query`), else the JSON array.

Field names are read in either spelling protobuf JSON takes (`thinkingBudget`
or `thinking_budget`: google-genai sends some in snake_case); the client's own
objects (schemas, args, responses) are left as they are.

The conversation:
- `contents` roles `user` (also a missing role, and the legacy `function`) and
  `model` become user and assistant messages; consecutive turns of one role
  are one message, and in a user message the tool_result blocks come first.
  A conversation must begin with a user turn.
- Parts: `text`; `inlineData` images (jpeg, png, gif, webp) as base64 image
  blocks, PDFs as document blocks, `text/plain` as a text document; thought
  parts (`thought: true`) are what the client was shown and are dropped;
  `fileData` (Files-API and GCS URIs, which the gateway cannot fetch),
  `executableCode`, `codeExecutionResult`, other media and unknown parts: 400.
- functionCall -> tool_use. Its id is the call's own when it has one (made
  into Anthropic's `[A-Za-z0-9_-]` by `_tool_id` if it is not); without one,
  `gemini_call_<n>_<name>`, n the call's position among the conversation's
  calls, so the same history always gives the same ids. functionResponse ->
  tool_result of the previous model turn's call with its id, else of that
  turn's first unanswered call of its name. `response.output` (a string) is
  the result's text, `response.error` makes it `is_error`, any other response
  object is sent as its JSON; `parts` of a response (images) go into the
  result. A call the next user turn does not answer gets an error result
  saying so (Anthropic refuses an unanswered tool_use); a conversation ending
  in a model turn that calls functions is refused.
- thoughtSignature: a gateway-made one (`gemini_anthropic_answer.
  unpack_thinking`) gives back the exact thinking blocks, at the front of its
  model turn where Anthropic had them; any other (Gemini's own, the
  `skip_thought_signature_validator` placeholder) is dropped.

Tools: `functionDeclarations` with `parametersJsonSchema` as they are (but
for upper-case type names, which Gemini takes there too: lower-cased), or
`parameters` (Gemini's OpenAPI subset: upper-case types, `nullable`)
rewritten as JSON Schema; without either, no parameters. `response` /
`responseJsonSchema` (a function's output schema) and `behavior` are
dropped: Anthropic tools declare no output and always block. Every other
Tool field is a Google-run tool (googleSearch, codeExecution, urlContext,
retrieval, googleMaps, fileSearch, computerUse, ...): 400 naming it. Names must
be Anthropic's `^[A-Za-z0-9_-]{1,128}$` (Gemini's `.` and `:` are not): 400.
`toolConfig.functionCallingConfig`: AUTO and VALIDATED -> auto, NONE -> none,
ANY -> any; ANY with one allowedFunctionNames entry -> that tool, with several
-> any, and only those tools are sent (the calls Gemini would allow).

generationConfig:
- `maxOutputTokens` -> `max_tokens`, else `DEFAULT_MAX_TOKENS` (8192: Gemini's
  own default is the model's whole limit, which Anthropic has no word for and
  which differs per Claude model; 8192 fits every one), plus the thinking budget when
  thinking is on (so the answer keeps its 8192 besides the thinking);
  `stopSequences` -> `stop_sequences`; `candidateCount` above 1: 400.
- thinkingConfig -> `thinking{type: enabled, budget_tokens}` (taken by every
  Claude model that thinks, where effort and adaptive thinking are not):
  thinkingBudget > 0 as it is (at least Anthropic's 1024), -1 (dynamic) and
  thinkingLevel by `_LEVEL_BUDGETS`; 0 and MINIMAL think not. The budget stays
  below max_tokens (cut to max_tokens - 1; no thinking when that is under
  1024). Without `includeThoughts`, `display: omitted` (the signatures still
  come, the text does not); with it, no `display`: Anthropic's default shows
  the (summarized) thinking, and a field fewer is one fewer an older
  Anthropic-compatible upstream (Bedrock) could refuse. Thinking is left off when the
  last model turn called a function and lost its thinking blocks (another
  model's turn, or a client that dropped the signature), and when a tool
  call is forced (Anthropic takes only auto or none with thinking).
- `responseMimeType: application/json` with `responseJsonSchema` (type names
  lower-cased: Gemini CLI's classifier sends `OBJECT`) or `responseSchema`
  (rewritten as JSON Schema) -> `output_config.format`, its objects closed
  (`additionalProperties: false` unless they say otherwise: Anthropic's
  structured outputs take closed objects only);
  JSON without a schema has no Anthropic switch: a system line asks for one
  JSON value (`_JSON_ONLY`). `text/plain` is the default; other types: 400.
- `responseModalities` other than TEXT, `responseLogprobs` / `logprobs`,
  `cachedContent` (a Gemini cache): 400.
Dropped (`DROPPED`): sampling (`temperature`, `topP`, `topK`: current
Anthropic API versions take none; `seed`, `presencePenalty`,
`frequencyPenalty`), `safetySettings` (Anthropic has no such settings),
`labels`, `toolConfig.retrievalConfig`, `mediaResolution`, `speechConfig`,
`audioTimestamp`, `routingConfig`, `modelSelectionConfig`,
`enableEnhancedCivicAnswers`; every unknown field likewise.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from .. import wire
from .base import Bridge, RequestOptions, TranslatedRequest, Untranslatable, expect_list, expect_object, expect_string
from .gemini_anthropic_answer import answer, error, unpack_thinking
from .gemini_anthropic_stream import AnthropicToGeminiStream

DEFAULT_MAX_TOKENS = 8192
# Anthropic's smallest thinking budget.
MIN_THINKING_BUDGET = 1024
# thinkingLevel (and thinkingBudget -1, dynamic: MEDIUM) -> budget_tokens.
_LEVEL_BUDGETS = {"MINIMAL": 0, "LOW": 2048, "MEDIUM": 8192, "HIGH": 16384, "XHIGH": 32768}
_DYNAMIC_BUDGET = _LEVEL_BUDGETS["MEDIUM"]
# Known fields dropped on purpose (see the docstring); unknown ones are dropped too.
DROPPED = ("safetySettings", "labels", "generationConfig.temperature", "generationConfig.topP",
           "generationConfig.topK", "generationConfig.seed", "generationConfig.presencePenalty",
           "generationConfig.frequencyPenalty", "generationConfig.mediaResolution",
           "generationConfig.speechConfig", "generationConfig.audioTimestamp", "generationConfig.routingConfig",
           "generationConfig.modelSelectionConfig", "generationConfig.enableEnhancedCivicAnswers",
           "toolConfig.retrievalConfig")
_JSON_ONLY = "Answer with a single JSON value and nothing else."
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_TOOL_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
_ROLES = {"user": "user", "function": "user", "model": "assistant"}
_MODES = {"AUTO": "auto", "VALIDATED": "auto", "MODE_UNSPECIFIED": "auto", "ANY": "any", "NONE": "none"}
# OpenAPI Schema (Gemini's `parameters`) keys with the same meaning in JSON Schema.
_SCHEMA_KEYS = ("format", "title", "description", "enum", "default", "minimum", "maximum", "minLength",
                "maxLength", "pattern", "minItems", "maxItems", "minProperties", "maxProperties", "required")
# JSON Schema keys whose values are schemas (or lists of them), and maps of them.
_SUBSCHEMAS = frozenset({"items", "additionalProperties", "not", "contains", "if", "then", "else",
                         "propertyNames", "anyOf", "oneOf", "allOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_OPENAPI_TYPES = frozenset({"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"})
_NOT_IN_USER_TURN = ("functionCall", "executableCode", "codeExecutionResult")


def request(data: dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """The Messages body for a GenerateContentRequest."""
    data = _obj(data, "body")
    if data.get("cachedContent") is not None:
        raise Untranslatable("cachedContent", "a Gemini context cache has no counterpart on Claude accounts")
    body: dict[str, Any] = {"model": options.model}
    conversation = _Conversation()
    messages = conversation.messages(data.get("contents"))
    system = _system(data.get("systemInstruction"))
    tools = _tools(data.get("tools"))
    choice, tools = _tool_choice(data.get("toolConfig"), tools)
    config = _obj(data.get("generationConfig", {}), "generationConfig")
    max_tokens, thinking, output = _generation(config)
    if output.pop("json_only", False):
        system.append({"type": "text", "text": _JSON_ONLY})
    if thinking is not None and (conversation.lost_thinking or (choice or {}).get("type") in ("any", "tool")):
        thinking = None
    if thinking is not None and config.get("maxOutputTokens") is None:
        max_tokens += thinking["budget_tokens"]
    if thinking is not None and thinking["budget_tokens"] >= max_tokens:
        thinking["budget_tokens"] = max_tokens - 1
        if thinking["budget_tokens"] < MIN_THINKING_BUDGET:
            thinking = None
    body["max_tokens"] = max_tokens
    body["messages"] = messages
    if system:
        body["system"] = system
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    if config.get("stopSequences") is not None:
        body["stop_sequences"] = _stops(config["stopSequences"])
    if thinking is not None:
        body["thinking"] = thinking
    if output:
        body["output_config"] = output
    streamed = options.stream
    body["stream"] = streamed
    body = {k: v for k, v in body.items() if k not in options.drop}
    # Without `alt=sse` Gemini streams one JSON array (google-genai and Gemini
    # CLI ask for SSE; a plain REST client may not).
    json_array = streamed and ("alt", "sse") not in options.client_query
    return TranslatedRequest(body, wire.MESSAGES_PATH, streamed, reply=Reply(options.client_model, json_array))


@dataclass(frozen=True)
class Reply:
    """What a Gemini request's answer and stream need of it (`TranslatedRequest.reply`)."""

    model: str  # the client's model name (from the URL path), which its answer carries as modelVersion
    json_array: bool = False  # a stream asked for without `alt=sse`: Gemini's JSON array, not SSE


def _answer(body: bytes, reply: Reply) -> bytes:
    return answer(body, reply.model)


def _stream(reply: Reply) -> AnthropicToGeminiStream:
    return AnthropicToGeminiStream(reply.model, json_array=reply.json_array)


def _obj(value: Any, where: str) -> dict[str, Any]:
    """An object of Gemini's request structure, its field names in lowerCamelCase.

    Google's API reads protobuf JSON, which takes a field's proto name too
    (`thinking_budget` for `thinkingBudget`), and google-genai sends such names
    in places (`parameters_json_schema`, `thinking_config`'s fields)."""
    fields = expect_object(value, where)
    if not any("_" in key for key in fields):
        return fields
    return {_camel(key): item for key, item in fields.items()}


def _camel(key: str) -> str:
    if "_" not in key or key.startswith("$"):
        return key
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _system(instruction: Any) -> list[dict[str, Any]]:
    if instruction is None:
        return []
    if isinstance(instruction, str):  # the SDKs send Content; a bare string is read kindly
        return [{"type": "text", "text": instruction}] if instruction else []
    parts = expect_list(_obj(instruction, "systemInstruction").get("parts", []), "systemInstruction.parts")
    blocks = []
    for i, part in enumerate(parts):
        where = f"systemInstruction.parts[{i}]"
        text = expect_string(_obj(part, where).get("text"), f"{where}.text")
        if text:
            blocks.append({"type": "text", "text": text})
    return blocks


class _Conversation:
    """contents -> messages, with the tool calls paired and the thinking restored."""

    def __init__(self) -> None:
        self.out: list[dict[str, Any]] = []
        self.calls = 0  # functionCalls so far, for the ids of those without one
        self.open: list[tuple[str, str]] = []  # (id, name) of the last model turn's calls not yet answered

    def messages(self, contents: Any) -> list[dict[str, Any]]:
        if not isinstance(contents, list) or not contents:
            raise Untranslatable("contents", "must be a non-empty list")
        for i, content in enumerate(contents):
            where = f"contents[{i}]"
            content = _obj(content, where)
            role = content.get("role") or "user"  # Gemini reads a turn without a role as the user's
            if role not in _ROLES:
                raise Untranslatable(f"{where}.role", "must be user or model")
            parts = expect_list(content.get("parts", []), f"{where}.parts")
            if _ROLES[role] == "assistant":
                self._model_turn(parts, where)
            else:
                self._user_turn(parts, where)
        self._answer_open()
        if not self.out:
            raise Untranslatable("contents", "has no content to send")
        if self.out[0]["role"] != "user":
            raise Untranslatable("contents[0]", "the conversation must begin with a user turn")
        last = self.out[-1]
        if last["role"] == "assistant" and any(b["type"] == "tool_use" for b in last["content"]):
            raise Untranslatable("contents", "ends with a model turn calling functions: send their "
                                             "functionResponse parts in a user turn")
        return [{"role": m["role"], "content": m["thinking"] + m["results"] + m["content"]} for m in self.out]

    @property
    def lost_thinking(self) -> bool:
        """The last model turn calls a tool without its thinking blocks: Anthropic
        would refuse the tool loop with thinking on."""
        last = next((m for m in reversed(self.out) if m["role"] == "assistant"), None)
        return last is not None and not last["thinking"] and any(b["type"] == "tool_use" for b in last["content"])

    def _message(self, role: str) -> dict[str, Any]:
        if not self.out or self.out[-1]["role"] != role:
            self.out.append({"role": role, "thinking": [], "results": [], "content": []})
        message: dict[str, Any] = self.out[-1]
        return message

    def _answer_open(self) -> None:
        """Error results for the calls of the model turn that no functionResponse answered."""
        if not self.open:
            return
        if self.out and self.out[-1]["role"] == "user":
            self.out[-1]["results"].extend(
                {"type": "tool_result", "tool_use_id": tool_id, "is_error": True,
                 "content": "The client sent no result for this call."} for tool_id, _ in self.open)
            self.open = []

    def _model_turn(self, parts: list[Any], where: str) -> None:
        self._answer_open()  # the user turn before this one is over
        thinking: list[dict[str, Any]] = []
        blocks: list[dict[str, Any]] = []
        for j, part in enumerate(parts):
            field = f"{where}.parts[{j}]"
            part = _obj(part, field)
            thinking.extend(unpack_thinking(part.get("thoughtSignature")))
            if part.get("thought") is True:
                continue  # shown to the client; the thinking itself rides the signature
            if "functionCall" in part:
                blocks.append(self._tool_use(part["functionCall"], f"{field}.functionCall"))
            elif "text" in part:
                text = expect_string(part["text"], f"{field}.text")
                if text:
                    blocks.append({"type": "text", "text": text})
            elif set(part) - {"thoughtSignature", "thought", "partMetadata"}:
                raise Untranslatable(field, f"a model turn's {_kind(part)} part has no counterpart on Claude "
                                            "accounts")
        merging = bool(self.out) and self.out[-1]["role"] == "assistant"
        if not blocks and not merging:
            # Nothing left but thoughts (an answer cut while thinking): thinking
            # blocks alone are no assistant message Anthropic takes.
            return
        message = self._message("assistant")
        message["thinking"].extend(thinking)
        message["content"].extend(blocks)

    def _tool_use(self, call: Any, where: str) -> dict[str, Any]:
        call = _obj(call, where)
        name = expect_string(call.get("name"), f"{where}.name")
        args = call.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise Untranslatable(f"{where}.args", "must be an object")
        given = call.get("id")
        if given is not None and (not isinstance(given, str) or not given):
            raise Untranslatable(f"{where}.id", "must be a non-empty string")
        self.calls += 1
        tool_id = _tool_id(given) if given else _call_id(self.calls, name)
        self.open.append((tool_id, name))
        return {"type": "tool_use", "id": tool_id, "name": name, "input": args}

    def _user_turn(self, parts: list[Any], where: str) -> None:
        results: list[dict[str, Any]] = []
        blocks: list[dict[str, Any]] = []
        for j, part in enumerate(parts):
            field = f"{where}.parts[{j}]"
            part = _obj(part, field)
            if part.get("thought") is True:
                continue
            if "functionResponse" in part:
                results.append(self._tool_result(part["functionResponse"], f"{field}.functionResponse"))
            elif "text" in part:
                text = expect_string(part["text"], f"{field}.text")
                if text:
                    blocks.append({"type": "text", "text": text})
            elif "inlineData" in part:
                blocks.append(_media(part["inlineData"], f"{field}.inlineData"))
            elif "fileData" in part:
                raise Untranslatable(f"{field}.fileData", "Files-API and Cloud Storage URIs cannot be read on "
                                                          "Claude accounts: send the data inline")
            elif any(k in part for k in _NOT_IN_USER_TURN):
                raise Untranslatable(field, f"a {_kind(part)} part has no counterpart on Claude accounts")
            elif set(part) - {"thoughtSignature", "thought", "partMetadata", "videoMetadata"}:
                raise Untranslatable(field, f"a {_kind(part)} part has no counterpart on Claude accounts")
        if not results and not blocks:
            return
        message = self._message("user")
        message["results"].extend(results)
        message["content"].extend(blocks)

    def _tool_result(self, response: Any, where: str) -> dict[str, Any]:
        response = _obj(response, where)
        name, given = response.get("name"), response.get("id")
        match = None
        if isinstance(given, str) and given:
            wanted = _tool_id(given)
            match = next((c for c in self.open if c[0] == wanted), None)
        if match is None and isinstance(name, str):
            match = next((c for c in self.open if c[1] == name), None)
        if match is None:
            raise Untranslatable(where, "answers no functionCall of the model turn before it")
        self.open.remove(match)
        content, failed = _result_content(response, where)
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": match[0], "content": content}
        if failed:
            result["is_error"] = True
        return result


def _kind(part: dict[str, Any]) -> str:
    names = [k for k in part if k not in ("thoughtSignature", "thought", "partMetadata")]
    return repr(names[0]) if names else "empty"


def _tool_id(given: str) -> str:
    """An id as Anthropic takes it: the client's own when it fits, else one made
    from it (the same for its call and its response)."""
    if _TOOL_ID.fullmatch(given):
        return given
    return "gemini_" + hashlib.sha256(given.encode()).hexdigest()[:24]


def _call_id(n: int, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]
    return f"gemini_call_{n}_{safe}"


def _media(blob: Any, where: str) -> dict[str, Any]:
    blob = _obj(blob, where)
    mime = expect_string(blob.get("mimeType"), f"{where}.mimeType").lower()
    data = expect_string(blob.get("data"), f"{where}.data")
    if not data:
        raise Untranslatable(f"{where}.data", "is empty")
    if mime in _IMAGE_TYPES:
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    if mime == "application/pdf":
        return {"type": "document", "source": {"type": "base64", "media_type": mime, "data": data}}
    if mime == "text/plain":
        try:
            # Either base64 alphabet, padded or not: the SDKs send urlsafe, others standard.
            normal = data.replace("+", "-").replace("/", "_").rstrip("=")
            text = base64.b64decode(normal + "=" * (-len(normal) % 4), altchars=b"-_", validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Untranslatable(f"{where}.data", "is not base64 of UTF-8 text") from exc
        return {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
    raise Untranslatable(f"{where}.mimeType", f"{mime!r} cannot be sent to Claude (images jpeg, png, gif, webp, "
                                              "PDF and plain text can)")


def _result_content(response: dict[str, Any], where: str) -> tuple[str | list[dict[str, Any]], bool]:
    """A functionResponse's result: its text (and images), and whether it failed."""
    value = response.get("response", {})
    if value is None:
        value = {}
    value = expect_object(value, f"{where}.response")
    failed = "error" in value and "output" not in value
    key = "error" if failed else "output"
    if set(value) == {key} and isinstance(value[key], str):
        text = value[key]
    elif set(value) == {key}:
        text = orjson.dumps(value[key]).decode()
    else:
        text = orjson.dumps(value).decode() if value else ""
    extra = expect_list(response.get("parts", []), f"{where}.parts")
    if not extra:
        return text, failed
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for k, part in enumerate(extra):
        field = f"{where}.parts[{k}]"
        part = _obj(part, field)
        if "inlineData" not in part:
            raise Untranslatable(field, "a function response part must carry inlineData")
        media = _media(part["inlineData"], f"{field}.inlineData")
        if media["type"] == "document" and media["source"]["type"] == "text":
            blocks.append({"type": "text", "text": media["source"]["data"]})
        else:
            blocks.append(media)
    return blocks, failed


def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, tool in enumerate(expect_list(tools, "tools")):
        where = f"tools[{i}]"
        tool = _obj(tool, where)
        for key, value in tool.items():
            if key != "functionDeclarations" and value is not None:
                raise Untranslatable(f"{where}.{key}", "a tool Google runs has no counterpart on Claude accounts")
        declarations = tool.get("functionDeclarations") or []
        for j, declaration in enumerate(expect_list(declarations, f"{where}.functionDeclarations")):
            made = _declaration(declaration, f"{where}.functionDeclarations[{j}]")
            if made["name"] in seen:
                raise Untranslatable(f"{where}.functionDeclarations[{j}].name", "is declared twice")
            seen.add(made["name"])
            out.append(made)
    return out


def _declaration(declaration: Any, where: str) -> dict[str, Any]:
    declaration = _obj(declaration, where)
    name = expect_string(declaration.get("name"), f"{where}.name")
    if not _TOOL_NAME.fullmatch(name):
        raise Untranslatable(f"{where}.name", "Claude takes tool names of letters, digits, _ and -, at most 128")
    if declaration.get("parametersJsonSchema") is not None:
        field = f"{where}.parametersJsonSchema"
        schema = _plain_types(expect_object(declaration["parametersJsonSchema"], field), field)
    elif declaration.get("parameters") is not None:
        field = f"{where}.parameters"
        schema = _json_schema(declaration["parameters"], field)
    else:
        schema, field = {"type": "object", "properties": {}}, where
    if schema.get("type") != "object":
        raise Untranslatable(field, "Claude takes an object schema for a tool's input")
    out: dict[str, Any] = {"name": name, "input_schema": schema}
    description = declaration.get("description")
    if isinstance(description, str) and description:
        out["description"] = description
    return out


def _json_schema(schema: Any, where: str, depth: int = 0) -> dict[str, Any]:
    """Gemini's OpenAPI Schema subset as JSON Schema: types lower-case, `nullable`
    as a `null` type, `propertyOrdering` and `example` dropped (JSON Schema has no
    ordering; an example changes nothing the model must follow)."""
    schema = _obj(schema, where)
    if depth > 64:
        raise Untranslatable(where, "is nested too deeply")
    out: dict[str, Any] = {k: schema[k] for k in _SCHEMA_KEYS if k in schema}
    kind = schema.get("type")
    if kind is not None:
        kind = expect_string(kind, f"{where}.type").lower()
        if kind == "type_unspecified":
            kind = None
    if kind is not None:
        out["type"] = [kind, "null"] if schema.get("nullable") is True else kind
    if "properties" in schema:
        props = expect_object(schema["properties"], f"{where}.properties")
        out["properties"] = {k: _json_schema(v, f"{where}.properties.{k}", depth + 1) for k, v in props.items()}
    if "items" in schema:
        out["items"] = _json_schema(schema["items"], f"{where}.items", depth + 1)
    if "anyOf" in schema:
        out["anyOf"] = [_json_schema(s, f"{where}.anyOf[{n}]", depth + 1)
                        for n, s in enumerate(expect_list(schema["anyOf"], f"{where}.anyOf"))]
        if schema.get("nullable") is True:
            out["anyOf"].append({"type": "null"})
    return out


def _plain_types(schema: Any, where: str, *, close: bool = False, depth: int = 0) -> Any:
    """A JSON Schema as Anthropic reads it: Gemini takes (and Gemini CLI sends, in
    `responseJsonSchema`) its OpenAPI type names, upper-case, in JSON Schema too, so
    those are lower-cased. With `close`, an object that does not say otherwise
    takes no other properties: Anthropic's structured outputs accept only closed
    objects, and Gemini answers with the declared properties only anyway."""
    if isinstance(schema, list):
        return [_plain_types(s, where, close=close, depth=depth + 1) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if depth > 64:
        raise Untranslatable(where, "is nested too deeply")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            out[key] = _lower_type(value)
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _plain_types(v, where, close=close, depth=depth + 1) for k, v in value.items()}
        elif key in _SUBSCHEMAS:
            out[key] = _plain_types(value, where, close=close, depth=depth + 1)
        else:
            out[key] = value
    kind = out.get("type")
    if close and (kind == "object" or (isinstance(kind, list) and "object" in kind)):
        out.setdefault("additionalProperties", False)
    return out


def _lower_type(kind: Any) -> Any:
    if isinstance(kind, str):
        return kind.lower() if kind in _OPENAPI_TYPES else kind
    if isinstance(kind, list):
        return [_lower_type(k) for k in kind]
    return kind


def _tool_choice(config: Any, tools: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    if config is None:
        return None, tools
    calling = _obj(config, "toolConfig").get("functionCallingConfig")
    if calling is None:
        return None, tools
    calling = _obj(calling, "toolConfig.functionCallingConfig")
    mode = calling.get("mode", "AUTO")
    if not isinstance(mode, str) or mode.upper() not in _MODES:
        raise Untranslatable("toolConfig.functionCallingConfig.mode", "must be AUTO, ANY, NONE or VALIDATED")
    kind = _MODES[mode.upper()]
    allowed = calling.get("allowedFunctionNames")
    if kind != "any" or not allowed:
        return ({"type": kind} if tools else None), tools
    where = "toolConfig.functionCallingConfig.allowedFunctionNames"
    names = [expect_string(n, f"{where}[{i}]") for i, n in enumerate(expect_list(allowed, where))]
    unknown = [n for n in names if n not in {t["name"] for t in tools}]
    if unknown:
        raise Untranslatable(where, f"names no declared function: {unknown[0]!r}")
    if len(set(names)) == 1:
        return {"type": "tool", "name": names[0]}, tools
    return {"type": "any"}, [t for t in tools if t["name"] in names]


def _stops(value: Any) -> list[str]:
    stops = expect_list(value, "generationConfig.stopSequences")
    return [expect_string(s, f"generationConfig.stopSequences[{i}]") for i, s in enumerate(stops)]


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Untranslatable(where, f"must be an integer of at least {minimum}")
    return value


def _generation(config: dict[str, Any]) -> tuple[int, dict[str, Any] | None, dict[str, Any]]:
    """(max_tokens, thinking, output_config) for a generationConfig."""
    where = "generationConfig"
    max_tokens = DEFAULT_MAX_TOKENS
    if config.get("maxOutputTokens") is not None:
        max_tokens = _int(config["maxOutputTokens"], f"{where}.maxOutputTokens", 1)
    if config.get("candidateCount") is not None and _int(config["candidateCount"], f"{where}.candidateCount", 1) > 1:
        raise Untranslatable(f"{where}.candidateCount", "Claude answers with one candidate")
    for key in ("responseLogprobs", "logprobs"):
        if config.get(key) not in (None, False, 0):
            raise Untranslatable(f"{where}.{key}", "Claude accounts give no log probabilities")
    modalities = config.get("responseModalities")
    if modalities is not None:
        names = [expect_string(m, f"{where}.responseModalities[{i}]").upper()
                 for i, m in enumerate(expect_list(modalities, f"{where}.responseModalities"))]
        if any(m != "TEXT" for m in names):
            raise Untranslatable(f"{where}.responseModalities", "Claude answers with text only")
    thinking = _thinking(config.get("thinkingConfig"))
    return max_tokens, thinking, _output(config)


def _thinking(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    where = "generationConfig.thinkingConfig"
    config = _obj(config, where)
    budget = config.get("thinkingBudget")
    level = config.get("thinkingLevel")
    if budget is not None:
        budget = _int(budget, f"{where}.thinkingBudget", -1)
        budget = _DYNAMIC_BUDGET if budget == -1 else budget
    elif level is not None:
        if not isinstance(level, str) or level.upper() not in _LEVEL_BUDGETS:
            raise Untranslatable(f"{where}.thinkingLevel", "must be MINIMAL, LOW, MEDIUM, HIGH or XHIGH")
        budget = _LEVEL_BUDGETS[level.upper()]
    else:
        return None  # includeThoughts alone: the model's default, no thinking on Claude
    if budget == 0:
        return None
    thinking: dict[str, Any] = {"type": "enabled", "budget_tokens": max(budget, MIN_THINKING_BUDGET)}
    if config.get("includeThoughts") is not True:
        thinking["display"] = "omitted"
    return thinking


def _output(config: dict[str, Any]) -> dict[str, Any]:
    where = "generationConfig"
    mime = config.get("responseMimeType")
    json_schema, schema = config.get("responseJsonSchema"), config.get("responseSchema")
    if mime is None or mime == "text/plain":
        if json_schema is not None or schema is not None:
            raise Untranslatable(f"{where}.responseMimeType", "a response schema needs application/json")
        return {}
    if mime != "application/json":
        raise Untranslatable(f"{where}.responseMimeType", "Claude answers text/plain or application/json")
    if json_schema is not None:
        field = f"{where}.responseJsonSchema"
        fmt = _plain_types(expect_object(json_schema, field), field, close=True)
    elif schema is not None:
        field = f"{where}.responseSchema"
        fmt = _plain_types(_json_schema(schema, field), field, close=True)
    else:
        return {"json_only": True}
    return {"format": {"type": "json_schema", "schema": fmt}}


BRIDGE = Bridge(client=wire.GEMINI, upstream=wire.ANTHROPIC_MESSAGES, request=request, answer=_answer,
                error=error, stream=_stream)
