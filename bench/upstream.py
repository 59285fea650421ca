"""A fast fake Anthropic Messages upstream: `python bench/upstream.py --port P`.

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


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None,
                handle_signals=True)


if __name__ == "__main__":
    main()
