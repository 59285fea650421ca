"""A fast fake upstream: Anthropic Messages and OpenAI Chat Completions, `python bench/upstream.py --port P`.

The chat endpoint is for the gateway's bridged row (an Anthropic client served
by an OpenAI account) and the native chat row: the same text and token counts
as the Messages answer, streamed as chat chunks with a closing usage chunk and
`[DONE]`. The Messages endpoint serves the Claude rows, the chat client's
bridged row among them (its requests translated to Messages).

Written directly on aiohttp.web rather than on Starlette so that it costs far
less per request than anything benchmarked through it: the numbers should
measure the forwarders, not this. Every answer is rendered once at import.
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

MODEL = "claude-bench-1"
USAGE = {"input_tokens": 12, "output_tokens": 7, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 200}
TEXT_PIECES = ["Hello", ", ", "this ", "is ", "a benchmark."]
HEADERS = {"request-id": "req_bench", "anthropic-ratelimit-requests-remaining": "99"}


def _sse(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_events() -> list[bytes]:
    """The ten events of a short real Messages stream, in order."""
    events = [
        _sse("message_start", {"type": "message_start", "message": {
            "id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**USAGE, "output_tokens": 1}}}),
        _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
    ]
    for piece in TEXT_PIECES:
        events.append(_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "text_delta", "text": piece}}))
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": USAGE["output_tokens"]}}),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


EVENTS = stream_events()
MESSAGE = json.dumps({
    "id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL,
    "content": [{"type": "text", "text": "".join(TEXT_PIECES)}],
    "stop_reason": "end_turn", "stop_sequence": None, "usage": USAGE,
}).encode()


async def messages(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    try:
        data = json.loads(body)
    except ValueError:
        return web.json_response({"type": "error", "error": {"type": "invalid_request_error",
                                                             "message": "body is not JSON"}}, status=400)
    if not data.get("stream"):
        return web.Response(body=MESSAGE, content_type="application/json", headers=HEADERS)
    response = web.StreamResponse(headers={**HEADERS, "content-type": "text/event-stream", "cache-control": "no-cache"})
    await response.prepare(request)
    # One write per event, as a real upstream emits them (each becomes its own
    # HTTP chunk), so the forwarders relay several chunks per response.
    for event in EVENTS:
        await response.write(event)
    await response.write_eof()
    return response


CHAT_MODEL = "gpt-bench-1"
# Chat counts cached input inside prompt_tokens: the same uncached 12 and cached 200 as USAGE.
CHAT_USAGE = {"prompt_tokens": USAGE["input_tokens"] + USAGE["cache_read_input_tokens"],
              "completion_tokens": USAGE["output_tokens"],
              "total_tokens": USAGE["input_tokens"] + USAGE["cache_read_input_tokens"] + USAGE["output_tokens"],
              "prompt_tokens_details": {"cached_tokens": USAGE["cache_read_input_tokens"]}}


def _chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> bytes:
    data = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": CHAT_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


CHAT_EVENTS = [
    _chunk({"role": "assistant", "content": ""}),
    *(_chunk({"content": piece}) for piece in TEXT_PIECES),
    _chunk({}, "stop"),
    b"data: " + json.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
                            "model": CHAT_MODEL, "choices": [], "usage": CHAT_USAGE},
                           separators=(",", ":")).encode() + b"\n\n",
    b"data: [DONE]\n\n",
]
CHAT_COMPLETION = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": CHAT_MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(TEXT_PIECES)},
                 "finish_reason": "stop"}],
    "usage": CHAT_USAGE,
}).encode()


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    try:
        data = json.loads(body)
    except ValueError:
        return web.json_response({"error": {"message": "body is not JSON", "type": "invalid_request_error"}},
                                 status=400)
    if not data.get("stream"):
        return web.Response(body=CHAT_COMPLETION, content_type="application/json")
    response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
    await response.prepare(request)
    for event in CHAT_EVENTS:
        await response.write(event)
    await response.write_eof()
    return response


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None,
                handle_signals=True)


if __name__ == "__main__":
    main()
