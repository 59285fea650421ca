"""ResponseCollector: a Responses stream, in chunks of any size, turned into one JSON answer."""

from __future__ import annotations

import json

from aiproxy.formats.openai_responses import ResponseCollector
from tests.fakes.openai_oauth import codex_stream
from tests.fakes.openai_upstream import RESPONSES_USAGE, TEXT, message_item, response_object, responses_stream


def collect(events: list[bytes], size: int | None = None) -> tuple[int, dict]:
    raw = b"".join(events)
    collector = ResponseCollector()
    step = size or len(raw)
    for i in range(0, len(raw), step):
        collector.feed(raw[i:i + step])
    status, body = collector.result()
    return status, json.loads(body)


def test_completed_response_returned_whole_in_any_chunking():
    for size in (None, 1, 7, 100):
        status, body = collect(responses_stream("gpt-5"), size)
        assert status == 200
        assert body == response_object("gpt-5", "completed", [message_item(TEXT)], RESPONSES_USAGE)


def test_bare_terminal_output_filled_from_output_item_done_events_in_order():
    events = codex_stream("gpt-5-codex")
    status, body = collect(events, 13)
    assert status == 200 and body["output"] == [message_item(TEXT)] and body["usage"] == RESPONSES_USAGE
    # Two items, announced out of order: placed by output_index.
    second = b'event: response.output_item.done\ndata: {"type":"response.output_item.done","output_index":1,' \
             b'"item":{"id":"fc_1","type":"function_call"}}\n\n'
    status, body = collect([*events[:-1], second, events[-1]])
    assert [item["id"] for item in body["output"]] == ["msg_fake", "fc_1"]


def test_failed_response_answers_an_openai_error():
    status, body = collect(responses_stream("stream-failed", failed=True))
    assert status == 502
    assert body == {"error": {"message": "fake failure", "type": "server_error", "param": None,
                              "code": "server_error"}}


def test_error_event_and_usage_limits():
    status, body = collect([b'event: error\ndata: {"type":"error","code":"rate_limit_exceeded",'
                            b'"message":"slow down","param":null}\n\n'])
    assert status == 429 and body["error"]["code"] == "rate_limit_exceeded"
    assert body["error"]["message"] == "slow down" and body["error"]["type"] == "rate_limit_error"
    failed = {"type": "response.failed", "response": {"status": "failed", "error": {
        "code": "usage_limit_reached", "message": "limit"}}}
    status, body = collect([f"data: {json.dumps(failed)}\n\n".encode()])
    assert status == 429 and body["error"]["message"] == "limit"


def test_stream_cut_before_the_end():
    status, body = collect(codex_stream("gpt-5-codex")[:-1])
    assert status == 502 and "ended before the response completed" in body["error"]["message"]


def test_nothing_after_the_terminal_event_is_read():
    extra = b'event: error\ndata: {"type":"error","message":"late"}\n\ndata: [DONE]\n\n'
    status, body = collect([*responses_stream("gpt-5"), extra])
    assert status == 200 and body["status"] == "completed"
