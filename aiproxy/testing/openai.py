"""A fake OpenAI API that records what it was sent and answers like the real one.

The model name steers it: "fail-<status>" answers that status with an OpenAI
error body; "azure-..." streams chat with Azure's usage-less first chunk
(`prompt_filter_results`); "stream-failed" ends a Responses stream with
`response.failed`; anything else answers normally with fixed usage.
A request that offers tools and does not end with a tool's result is answered
with a call of its first tool (`TOOL_ARGS`, id `TOOL_CALL_ID`), as a model
starting an agent loop would; the turn after the result gets the text.
Chat streams carry usage only when `stream_options.include_usage` is true,
as OpenAI's do: then every chunk has `"usage":null` and one last chunk with
`choices: []` has the usage.
An output limit (`max_tokens` / `max_completion_tokens`, `max_output_tokens`)
above the model's cap is answered 400 as OpenAI answers it (`limit_refused`);
the caps are the gateway's own table (aiproxy/model_limits), so a translated
request that was not clamped fails here as it would upstream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..model_limits import OutputCaps
from .anthropic import Seen as _Seen
from .upstream import FakeUpstream

TEXT_PIECES = ["Hello", ", ", "world", "!"]
TEXT = "".join(TEXT_PIECES)
# prompt_tokens includes the cached ones: the gateway records input 20, cache read 10.
CHAT_USAGE = {
    "prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37,
    "prompt_tokens_details": {"cached_tokens": 10, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0,
                                  "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
}
RESPONSES_USAGE = {
    "input_tokens": 40, "input_tokens_details": {"cached_tokens": 16},
    "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 49,
}
HEADERS = {"x-request-id": "req_fake", "x-ratelimit-remaining-requests": "99"}
TOOL_CALL_ID = "call_fake"
TOOL_ARGS = {"path": "README.md"}
# The arguments as they are streamed: split mid-token, as OpenAI's fragments come.
TOOL_ARGS_PIECES = ['{"pa', 'th": "READ', 'ME.md"}']
CREATED = 1741569952
CAPS = OutputCaps.load()


def compact(data: Any) -> str:
    # OpenAI sends compact JSON.
    return json.dumps(data, separators=(",", ":"))


def data_line(data: Any) -> bytes:
    return f"data: {compact(data)}\n\n".encode()


def chat_chunk(model: str, delta: dict[str, Any], finish: str | None, with_usage_field: bool) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED, "model": model,
        "service_tier": "default", "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if with_usage_field:
        chunk["usage"] = None
    return chunk


def chat_stream(model: str, include_usage: bool, azure: bool = False) -> list[bytes]:
    """The events of a chat stream, as OpenAI (or Azure) sends them."""
    events = []
    if azure:
        events.append(data_line({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                                 "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
                                     "hate": {"filtered": False, "severity": "safe"}}}]}))
    events.append(data_line(chat_chunk(model, {"role": "assistant", "content": "", "refusal": None}, None,
                                       include_usage)))
    for piece in TEXT_PIECES:
        events.append(data_line(chat_chunk(model, {"content": piece}, None, include_usage)))
    events.append(data_line(chat_chunk(model, {}, "stop", include_usage)))
    if include_usage:
        events.append(data_line({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED,
                                 "model": model, "service_tier": "default", "system_fingerprint": "fp_fake",
                                 "choices": [], "usage": CHAT_USAGE}))
    events.append(b"data: [DONE]\n\n")
    return events


def tool_to_call(body: dict[str, Any]) -> str | None:
    """The tool a request makes the fake call: its first, unless the last turn is a tool's result."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    turns = body.get("messages") if "messages" in body else body.get("input")
    last = turns[-1] if isinstance(turns, list) and turns and isinstance(turns[-1], dict) else {}
    if last.get("role") == "tool" or last.get("type") == "function_call_output":
        return None
    first = tools[0]
    name = (first.get("function") or {}).get("name") if "function" in first else first.get("name")
    return str(name) if name else None


def chat_tool_call(model: str, name: str) -> dict[str, Any]:
    call = {"id": TOOL_CALL_ID, "type": "function", "function": {"name": name, "arguments": compact(TOOL_ARGS)}}
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": None,
                                             "tool_calls": [call], "annotations": []},
                     "logprobs": None, "finish_reason": "tool_calls"}],
        "usage": CHAT_USAGE, "service_tier": "default", "system_fingerprint": "fp_fake",
    }


def chat_tool_stream(model: str, name: str) -> list[bytes]:
    """A streamed tool call: the id and name first, the arguments in fragments, usage last."""
    events = [data_line(chat_chunk(model, {"role": "assistant", "content": None, "refusal": None}, None, True))]
    first = {"index": 0, "id": TOOL_CALL_ID, "type": "function", "function": {"name": name, "arguments": ""}}
    events.append(data_line(chat_chunk(model, {"tool_calls": [first]}, None, True)))
    for piece in TOOL_ARGS_PIECES:
        events.append(data_line(chat_chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]},
                                           None, True)))
    events.append(data_line(chat_chunk(model, {}, "tool_calls", True)))
    events.append(data_line({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED,
                             "model": model, "choices": [], "usage": CHAT_USAGE}))
    events.append(b"data: [DONE]\n\n")
    return events


def chat_completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT, "refusal": None,
                                             "annotations": []},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": CHAT_USAGE, "service_tier": "default", "system_fingerprint": "fp_fake",
    }


def response_object(model: str, status: str, output: list[Any], usage: dict[str, Any] | None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "resp_fake", "object": "response", "created_at": CREATED, "status": status, "background": False,
        "error": error, "incomplete_details": None, "instructions": None, "max_output_tokens": None,
        "model": model, "output": output, "parallel_tool_calls": True, "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None}, "store": True, "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto", "tools": [],
        "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": None, "metadata": {},
    }


def message_item(text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if text else []
    return {"id": "msg_fake", "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(name: str, arguments: str = compact(TOOL_ARGS), status: str = "completed") -> dict[str, Any]:
    return {"id": "fc_fake", "type": "function_call", "status": status, "call_id": TOOL_CALL_ID, "name": name,
            "arguments": arguments}


def responses_tool_stream(model: str, name: str) -> list[bytes]:
    """A streamed Responses function call: the item, its argument deltas, the item done, completed."""
    seq = 0

    def ev(kind: str, **data: Any) -> bytes:
        nonlocal seq
        payload = {"type": kind, "sequence_number": seq, **data}
        seq += 1
        return f"event: {kind}\ndata: {compact(payload)}\n\n".encode()

    events = [ev("response.created", response=response_object(model, "in_progress", [], None)),
              ev("response.output_item.added", output_index=0, item=function_call_item(name, "", "in_progress"))]
    for piece in TOOL_ARGS_PIECES:
        events.append(ev("response.function_call_arguments.delta", item_id="fc_fake", output_index=0, delta=piece))
    events += [
        ev("response.function_call_arguments.done", item_id="fc_fake", output_index=0, arguments=compact(TOOL_ARGS)),
        ev("response.output_item.done", output_index=0, item=function_call_item(name)),
        ev("response.completed", response=response_object(model, "completed", [function_call_item(name)],
                                                           RESPONSES_USAGE)),
    ]
    return events


def responses_stream(model: str, failed: bool = False) -> list[bytes]:
    """The events of a Responses stream, with `event:` lines and sequence numbers."""
    seq = 0

    def ev(kind: str, **data: Any) -> bytes:
        nonlocal seq
        payload = {"type": kind, "sequence_number": seq, **data}
        seq += 1
        return f"event: {kind}\ndata: {compact(payload)}\n\n".encode()

    events = [
        ev("response.created", response=response_object(model, "in_progress", [], None)),
        ev("response.in_progress", response=response_object(model, "in_progress", [], None)),
    ]
    if failed:
        error = {"code": "server_error", "message": "fake failure"}
        events.append(ev("response.failed", response=response_object(model, "failed", [], RESPONSES_USAGE, error)))
        return events
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    events += [
        ev("response.output_item.added", output_index=0, item=message_item("", "in_progress")),
        ev("response.content_part.added", item_id="msg_fake", output_index=0, content_index=0, part=part),
    ]
    for piece in TEXT_PIECES:
        events.append(ev("response.output_text.delta", item_id="msg_fake", output_index=0, content_index=0,
                         delta=piece, logprobs=[]))
    done_part = {**part, "text": TEXT}
    events += [
        ev("response.output_text.done", item_id="msg_fake", output_index=0, content_index=0, text=TEXT, logprobs=[]),
        ev("response.content_part.done", item_id="msg_fake", output_index=0, content_index=0, part=done_part),
        ev("response.output_item.done", output_index=0, item=message_item(TEXT)),
        ev("response.completed", response=response_object(model, "completed", [message_item(TEXT)], RESPONSES_USAGE)),
    ]
    return events


def limit_refused(model: str, body: dict[str, Any], fields: tuple[str, ...]) -> Response | None:
    """OpenAI's 400 for an output limit above the model's cap, or None if the limit fits."""
    cap = CAPS.max_output(model)
    for name in fields:
        limit = body.get(name)
        if cap is not None and isinstance(limit, int) and limit > cap:
            kind = "output" if name == "max_output_tokens" else "completion"
            message = (f"{name} is too large: {limit}. This model supports at most {cap} {kind} tokens, "
                       f"whereas you provided {limit}.")
            return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": name,
                                           "code": None}}, status_code=400, headers=HEADERS)
    return None


def error_response(status: int) -> Response:
    kind = {401: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error")
    return JSONResponse({"error": {"message": f"fake {status}", "type": kind, "param": None, "code": f"fake_{status}"}},
                        status_code=status, headers=HEADERS)


@dataclass
class Seen(_Seen):
    url: str = ""  # the whole URL, to check the base URL an adapter chose


@dataclass
class FakeOpenAI(FakeUpstream):
    requests: list[Seen] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/responses", self.responses, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
        ])

    async def _record(self, request: Request) -> Seen:
        seen = Seen(request.method, request.url.path, request.url.query, dict(request.headers), await request.body(),
                    str(request.url))
        self.requests.append(seen)
        return seen

    async def chat(self, request: Request) -> Response:
        body = (await self._record(request)).json
        model = body.get("model", "")
        if model.startswith("fail-"):
            return error_response(int(model.split("-")[1]))
        refused = limit_refused(model, body, ("max_tokens", "max_completion_tokens"))
        if refused is not None:
            return refused
        tool = tool_to_call(body)
        if tool is not None:
            if body.get("stream"):
                return StreamingResponse(iter(chat_tool_stream(model, tool)), media_type="text/event-stream",
                                         headers=HEADERS)
            return JSONResponse(chat_tool_call(model, tool), headers=HEADERS)
        if body.get("stream"):
            options = body.get("stream_options") or {}
            events = chat_stream(model, options.get("include_usage") is True, azure=model.startswith("azure-"))
            return StreamingResponse(iter(events), media_type="text/event-stream", headers=HEADERS)
        return JSONResponse(chat_completion(model), headers=HEADERS)

    async def responses(self, request: Request) -> Response:
        body = (await self._record(request)).json
        model = body.get("model", "")
        if model.startswith("fail-"):
            return error_response(int(model.split("-")[1]))
        refused = limit_refused(model, body, ("max_output_tokens",))
        if refused is not None:
            return refused
        tool = tool_to_call(body)
        if tool is not None:
            if body.get("stream"):
                return StreamingResponse(iter(responses_tool_stream(model, tool)), media_type="text/event-stream",
                                         headers=HEADERS)
            return JSONResponse(response_object(model, "completed", [function_call_item(tool)], RESPONSES_USAGE),
                                headers=HEADERS)
        if body.get("stream"):
            events = responses_stream(model, failed=model == "stream-failed")
            return StreamingResponse(iter(events), media_type="text/event-stream", headers=HEADERS)
        return JSONResponse(response_object(model, "completed", [message_item(TEXT)], RESPONSES_USAGE),
                            headers=HEADERS)

    async def models(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"object": "list", "data": [
            {"id": "gpt-4.1", "object": "model", "created": CREATED, "owned_by": "system"},
            {"id": "gpt-5", "object": "model", "created": CREATED, "owned_by": "system"},
        ]}, headers=HEADERS)
