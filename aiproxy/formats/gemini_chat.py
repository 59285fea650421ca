"""OpenAI-style chat over the Gemini API: the request, the answer and the stream, translated.

`/gemini/v1/chat` takes a Chat Completions body (text only: system, user and
assistant messages) and answers in Chat Completions shape, so OpenAI-speaking
tools can use Gemini accounts. Pure functions over dicts and bytes; usage is
read from Gemini's own fields before anything is rewritten.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from . import gemini
from .sse import SSEParser
from .usage import Usage

_ROLES = {"user": "user", "assistant": "model"}
_SYSTEM_ROLES = ("system", "developer")
# The longest model name taken: it goes into the upstream URL's path.
MAX_MODEL_LENGTH = 256


def request_problem(body: dict[str, Any]) -> str | None:
    """Why this chat body cannot be translated (a 400 for the client), or None."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model is required"
    # The model becomes part of the upstream URL: a name no URL can hold is
    # refused here rather than failing in the HTTP client.
    if len(body["model"]) > MAX_MODEL_LENGTH or not body["model"].isprintable():
        return f"model must be at most {MAX_MODEL_LENGTH} printable characters"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    if body.get("tools") or body.get("functions"):
        return "tools are not supported on this endpoint"
    conversation = 0
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages[{i}] must be an object"
        role = message.get("role")
        if not isinstance(role, str) or (role not in _ROLES and role not in _SYSTEM_ROLES):
            return f"messages[{i}]: role {role!r} is not supported (system, user, assistant)"
        if _text_of(message.get("content")) is None:
            return f"messages[{i}]: content must be a string or a list of text parts"
        conversation += role in _ROLES
    if not conversation:
        return "messages must contain a user or assistant message"
    return None


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                return None
            texts.append(part["text"])
        return "".join(texts)
    return None


def to_gemini(body: dict[str, Any]) -> dict[str, Any]:
    """A GenerateContentRequest for a chat body that passed `request_problem`."""
    system: list[dict[str, str]] = []
    contents: list[dict[str, Any]] = []
    for message in body["messages"]:
        text = _text_of(message.get("content")) or ""
        if message["role"] in _SYSTEM_ROLES:
            system.append({"text": text})
        elif text:  # Gemini rejects a turn without parts
            contents.append({"role": _ROLES[message["role"]], "parts": [{"text": text}]})
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    config: dict[str, Any] = {}
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if config:
        request["generationConfig"] = config
    return request


def _candidate_text(candidate: dict[str, Any]) -> str:
    parts = (candidate.get("content") or {}).get("parts") or []
    # Thought summaries are not part of the answer.
    return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought"))


def _finish(reason: Any) -> str | None:
    # Gemini's table is written in Chat Completions' own words.
    return gemini.finish_reason(reason)


def chat_usage(meta: dict[str, Any]) -> dict[str, Any]:
    """usageMetadata in Chat Completions terms (prompt includes cached, completion includes reasoning)."""
    usage = gemini.usage_from_metadata(meta)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    prompt = usage.input_tokens + usage.cache_read_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def completion_from_gemini(body: bytes, *, created: int | None = None) -> bytes:
    """A chat.completion for a GenerateContentResponse; anything unreadable goes back as it came."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(data, dict):
        return body
    choices = [
        {
            "index": c.get("index", i),
            "message": {"role": "assistant", "content": _candidate_text(c)},
            "finish_reason": _finish(c.get("finishReason")) or "stop",
        }
        for i, c in enumerate(data.get("candidates") or [])
        if isinstance(c, dict)
    ]
    if not choices:  # the prompt itself was blocked (promptFeedback.blockReason)
        choices = [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "content_filter"}]
    completion: dict[str, Any] = {
        "id": "chatcmpl-" + str(data.get("responseId") or "gemini"),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": data.get("modelVersion") or "",
        "choices": choices,
    }
    if isinstance(data.get("usageMetadata"), dict):
        completion["usage"] = chat_usage(data["usageMetadata"])
    return orjson.dumps(completion)


def _data_line(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class ChatStream:
    """Rewrites a Gemini SSE stream (`alt=sse`) into chat.completion.chunk events as it passes.

    Usage is read from every element (cumulative, the last one wins) and sent
    to the client only if it asked with `stream_options.include_usage`, as
    OpenAI does. An error element is passed on as `data: {"error": ...}` and
    the stream then ends without `[DONE]`, so clients see it was cut.
    """

    def __init__(self, *, include_usage: bool = False, created: int | None = None) -> None:
        self.usage = Usage()
        self.model: str | None = None
        self.error: str | None = None
        self._include_usage = include_usage
        self._created = created if created is not None else int(time.time())
        self._sse = SSEParser()
        self._id = "chatcmpl-gemini"
        self._meta: dict[str, Any] | None = None
        self._started: set[int] = set()  # candidate indexes that were sent their role

    def feed(self, chunk: bytes) -> bytes:
        out = [self._translate(event.data) for event in self._sse.feed(chunk)]
        return b"".join(out)

    def end(self) -> bytes:
        if self.error:
            return b""
        out = b""
        if self._include_usage and self._meta is not None:
            out += _data_line({**self._envelope(), "choices": [], "usage": chat_usage(self._meta)})
        return out + b"data: [DONE]\n\n"

    def _envelope(self) -> dict[str, Any]:
        return {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self.model or ""}

    def _translate(self, raw: str) -> bytes:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(data, dict):
            return b""
        model, error = gemini.read_element(self.usage, data)
        self.model = self.model or model
        if data.get("responseId") and not self._started:
            self._id = "chatcmpl-" + str(data["responseId"])
        if isinstance(data.get("usageMetadata"), dict):
            self._meta = data["usageMetadata"]
        if error:
            self.error = error
            return _data_line({"error": data["error"]})
        candidates = data.get("candidates") or []
        if not candidates and (data.get("promptFeedback") or {}).get("blockReason"):
            candidates = [{"index": 0, "finishReason": "PROHIBITED_CONTENT"}]  # the prompt was blocked
        out = []
        for i, candidate in enumerate(candidates):
            if not isinstance(candidate, dict):
                continue
            index = candidate.get("index", i)
            delta: dict[str, Any] = {}
            if index not in self._started:
                self._started.add(index)
                delta["role"] = "assistant"
            text = _candidate_text(candidate)
            if text or "role" in delta:
                delta["content"] = text
            finish = _finish(candidate.get("finishReason"))
            if delta or finish:
                choice = {"index": index, "delta": delta, "finish_reason": finish}
                out.append(_data_line({**self._envelope(), "choices": [choice]}))
        return b"".join(out)
