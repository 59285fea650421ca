"""A fake Gemini API that records what it was sent and answers like the real one.

The model in the URL steers it: "fail-<status>" answers that status with a
Google error body; anything else answers normally. Streams come as SSE with
`?alt=sse` and as one JSON array without, each element sent on its own, with
cumulative usageMetadata as Google sends it. A request that offers function
declarations and does not end with a functionResponse is answered with a call
of the first one (`TOOL_ARGS`, with a `thoughtSignature`), as a model starting
an agent loop would. A `generationConfig.maxOutputTokens` above the model's
cap is answered 400 INVALID_ARGUMENT as Google answers it (`limit_refused`);
the caps are the gateway's own table (aiproxy/model_limits). countTokens
counts from what it was sent (`fake_count`), so a test sees whether the
system instruction and tools reached it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aiproxy.formats.gemini import status_name
from aiproxy.model_limits import OutputCaps

from .anthropic import Seen
from .upstream import FakeUpstream

TEXT_PIECES = ["Hello", ", ", "world", "!"]
THOUGHT = "Let me think {about \"it\"}."
# The final usage: 100 of the 120 prompt tokens were cached; 7 answer and 5 thought tokens.
USAGE = {
    "promptTokenCount": 120,
    "cachedContentTokenCount": 100,
    "candidatesTokenCount": 7,
    "thoughtsTokenCount": 5,
    "totalTokenCount": 132,
}
# What the gateway records for USAGE: input excludes the cached tokens, output includes thoughts.
RECORDED = {"input_tokens": 20, "output_tokens": 12, "cache_creation_tokens": 0, "cache_read_tokens": 100}
TOOL_ARGS = {"path": "README.md"}
THOUGHT_SIGNATURE = "c2lnLWZha2U="
CAPS = OutputCaps.load()


def tool_to_call(body: dict[str, Any] | None) -> str | None:
    """The function a request makes the fake call: its first, unless the last turn answers one."""
    if not isinstance(body, dict):
        return None
    tools = body.get("tools")
    declarations = tools[0].get("functionDeclarations") if isinstance(tools, list) and tools and isinstance(
        tools[0], dict) else None
    if not isinstance(declarations, list) or not declarations or not isinstance(declarations[0], dict):
        return None
    contents = body.get("contents")
    last = contents[-1] if isinstance(contents, list) and contents and isinstance(contents[-1], dict) else {}
    if any(isinstance(p, dict) and "functionResponse" in p for p in last.get("parts") or []):
        return None
    name = declarations[0].get("name")
    return str(name) if name else None


def tool_response(model: str, name: str) -> dict[str, Any]:
    call = {"functionCall": {"name": name, "args": TOOL_ARGS}, "thoughtSignature": THOUGHT_SIGNATURE}
    return {"candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": USAGE, "modelVersion": model, "responseId": "resp_fake"}


def answer_for(model: str, body: dict[str, Any] | None) -> dict[str, Any]:
    """The whole answer to `body`: a function call, or the text."""
    tool = tool_to_call(body)
    return tool_response(model, tool) if tool is not None else response(model)


def chunks_for(model: str, body: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The stream's elements for `body`: a function call in one element, or the text."""
    tool = tool_to_call(body)
    return [tool_response(model, tool)] if tool is not None else stream_chunks(model)
def words(value: Any) -> int:
    """The fake tokenizer: whitespace-separated words of every string in `value`
    (object keys and a content's `role` not counted)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(words(v) for k, v in value.items() if k != "role")
    if isinstance(value, list):
        return sum(words(v) for v in value)
    return 0


def fake_count(body: dict[str, Any]) -> int | str:
    """countTokens' total for `body` (`contents`, or a `generateContentRequest`:
    its contents, system instruction and tools), or why the real API refuses it."""
    nested = body.get("generateContentRequest")
    if nested is None:
        return words(body.get("contents"))
    if "contents" in body:
        return "contents and generateContentRequest are mutually exclusive"
    if not isinstance(nested, dict) or not str(nested.get("model", "")).startswith("models/"):
        return "generateContentRequest.model must name models/{model}"
    return sum(words(nested.get(f)) for f in ("contents", "systemInstruction", "tools"))


MODELS = ["gemini-2.5-flash", "gemini-2.5-pro"]


def model_info(name: str) -> dict[str, Any]:
    return {"name": f"models/{name}", "displayName": name, "inputTokenLimit": 1048576,
            "supportedGenerationMethods": ["generateContent", "countTokens"]}


def response(model: str) -> dict[str, Any]:
    return {
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": THOUGHT, "thought": True},
                                                   {"text": "".join(TEXT_PIECES)}]},
            "finishReason": "STOP", "index": 0,
        }],
        "usageMetadata": USAGE,
        "modelVersion": model,
        "responseId": "resp_fake",
    }


def stream_chunks(model: str) -> list[dict[str, Any]]:
    """Google's stream elements: a thought first, then text; usage grows as it goes."""
    chunks = [{
        "candidates": [{"content": {"role": "model", "parts": [{"text": THOUGHT, "thought": True}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 120, "cachedContentTokenCount": 100, "thoughtsTokenCount": 5,
                          "totalTokenCount": 125},
        "modelVersion": model, "responseId": "resp_fake",
    }]
    for i, piece in enumerate(TEXT_PIECES, start=1):
        last = i == len(TEXT_PIECES)
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}
        if last:
            candidate["finishReason"] = "STOP"
        usage = USAGE if last else {**USAGE, "candidatesTokenCount": i, "totalTokenCount": 125 + i}
        chunks.append({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                       "responseId": "resp_fake"})
    return chunks


def sse_pieces(model: str, body: dict[str, Any] | None = None) -> list[bytes]:
    return [b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks_for(model, body)]


def array_pieces(model: str, body: dict[str, Any] | None = None) -> list[bytes]:
    """The JSON array as Google sends it: `[{...}\\n,\\r\\n{...}\\n]`, one element per write."""
    elements = [json.dumps(c, indent=2).encode() for c in chunks_for(model, body)]
    pieces = [b"[" + elements[0]]
    pieces += [b"\n,\r\n" + e for e in elements[1:]]
    pieces.append(b"\n]")
    return pieces


def limit_refused(model: str, body: dict[str, Any] | None) -> JSONResponse | None:
    """Google's 400 for a maxOutputTokens above the model's cap, or None if it fits."""
    config = body.get("generationConfig") if isinstance(body, dict) else None
    limit = config.get("maxOutputTokens") if isinstance(config, dict) else None
    cap = CAPS.max_output(model)
    if cap is None or not isinstance(limit, int) or limit <= cap:
        return None
    return error(400, f"Unable to submit request because it has a maxOutputTokens value of {limit} but the "
                      f"supported range is from 1 (inclusive) to {cap + 1} (exclusive). Update the value and try "
                      "again.")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message, "status": status_name(status)}},
                        status_code=status)


@dataclass
class FakeGemini(FakeUpstream):
    requests: list[Seen] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/{version}/models", self.models, methods=["GET"]),
            Route("/{version}/models/{rest:path}", self.model_call, methods=["GET", "POST"]),
        ])

    async def _record(self, request: Request) -> Seen:
        seen = Seen(request.method, request.url.path, request.url.query, dict(request.headers), await request.body())
        self.requests.append(seen)
        return seen

    async def models(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"models": [model_info(m) for m in MODELS]})

    async def model_call(self, request: Request) -> Response:
        seen = await self._record(request)
        body = seen.json if request.method == "POST" and seen.body else None
        model, _, method = request.path_params["rest"].partition(":")
        if model.startswith("fail-"):
            status = int(model.split("-")[1])
            return error(status, f"fake {status}")
        if request.method == "GET" and not method:
            return JSONResponse(model_info(model))
        refused = limit_refused(model, body) if method != "countTokens" else None
        if refused is not None:
            return refused
        if method == "generateContent":
            return JSONResponse(answer_for(model, body))
        if method == "countTokens":
            total = fake_count(body or {})
            if isinstance(total, str):
                return error(400, total)
            return JSONResponse({"totalTokens": total} if total else {})  # protobuf JSON leaves a 0 out
        if method == "streamGenerateContent":
            if request.query_params.get("alt") == "sse":
                return StreamingResponse(_each(sse_pieces(model, body)), media_type="text/event-stream")
            return StreamingResponse(_each(array_pieces(model, body)), media_type="application/json; charset=UTF-8")
        return error(404, f"method {method} not found")


async def _each(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece
