from __future__ import annotations

import json

from aiproxy.formats import openai_responses
from aiproxy.formats.dialect import OPENAI
from aiproxy.formats.usage import Usage
from tests.fakes.openai_upstream import responses_stream

# A Responses stream as api.openai.com sends it (abridged objects, real event order and shapes).
RECORDED = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_68a1",'
    b'"object":"response","created_at":1755400000,"status":"in_progress","error":null,"model":"gpt-5-2025-08-07",'
    b'"output":[],"usage":null}}\n\n'
    b'event: response.in_progress\ndata: {"type":"response.in_progress","sequence_number":1,"response":{"id":'
    b'"resp_68a1","object":"response","status":"in_progress","error":null,"model":"gpt-5-2025-08-07","output":[],'
    b'"usage":null}}\n\n'
    b'event: response.output_item.added\ndata: {"type":"response.output_item.added","sequence_number":2,'
    b'"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}\n\n'
    b'event: response.output_item.done\ndata: {"type":"response.output_item.done","sequence_number":3,'
    b'"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}\n\n'
    b'event: response.output_item.added\ndata: {"type":"response.output_item.added","sequence_number":4,'
    b'"output_index":1,"item":{"id":"msg_1","type":"message","status":"in_progress","content":[],'
    b'"role":"assistant"}}\n\n'
    b'event: response.content_part.added\ndata: {"type":"response.content_part.added","sequence_number":5,'
    b'"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","annotations":[],'
    b'"logprobs":[],"text":""}}\n\n'
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":6,'
    b'"item_id":"msg_1","output_index":1,"content_index":0,"delta":"usage \\"response.completed\\" \xe2\x9c\x93",'
    b'"logprobs":[]}\n\n'
    b'event: response.output_text.done\ndata: {"type":"response.output_text.done","sequence_number":7,'
    b'"item_id":"msg_1","output_index":1,"content_index":0,"text":"usage \\"response.completed\\" \xe2\x9c\x93",'
    b'"logprobs":[]}\n\n'
    b'event: response.completed\ndata: {"type":"response.completed","sequence_number":8,"response":{"id":"resp_68a1",'
    b'"object":"response","status":"completed","error":null,"model":"gpt-5-2025-08-07","output":[],'
    b'"usage":{"input_tokens":2210,"input_tokens_details":{"cached_tokens":2048},"output_tokens":301,'
    b'"output_tokens_details":{"reasoning_tokens":256},"total_tokens":2511}}}\n\n'
)
RECORDED_USAGE = Usage(input_tokens=2210 - 2048, output_tokens=301, cache_read_tokens=2048)


def test_usage_from_body_subtracts_cached_tokens():
    body = json.dumps({"object": "response", "model": "gpt-5", "usage": {
        "input_tokens": 50, "input_tokens_details": {"cached_tokens": 20}, "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 57}})
    assert openai_responses.usage_from_body(body.encode()) == (Usage(30, 7, 0, 20), "gpt-5")
    assert openai_responses.usage_from_body(b'{"model":"m","usage":null}') == (None, "m")
    assert openai_responses.usage_from_body(b"nope") == (None, None)
    written = json.dumps({"model": "m", "usage": {"input_tokens": 50, "output_tokens": 7, "input_tokens_details": {
        "cached_tokens": 20, "cache_write_tokens": 25}}})
    assert openai_responses.usage_from_body(written.encode()) == (Usage(5, 7, 25, 20), "m")


def test_recorded_stream_every_chunking_unchanged():
    for size in range(1, len(RECORDED) + 1):
        tap = openai_responses.StreamTap()
        for i in range(0, len(RECORDED), size):
            piece = RECORDED[i : i + size]
            assert tap.feed(piece) == piece
        assert tap.end() == b""
        assert tap.usage == RECORDED_USAGE, size
        assert tap.model == "gpt-5-2025-08-07" and tap.error is None
        assert tap.response_id == "resp_68a1", size


def test_fake_upstream_stream_parses():
    tap = openai_responses.StreamTap()
    for event in responses_stream("gpt-x"):
        tap.feed(event)
    assert tap.usage == Usage(input_tokens=24, output_tokens=9, cache_read_tokens=16)
    assert tap.model == "gpt-x" and tap.error is None


def test_failed_response_gives_usage_and_error():
    tap = openai_responses.StreamTap()
    for event in responses_stream("gpt-x", failed=True):
        tap.feed(event)
    assert tap.error == "server_error: fake failure"
    assert tap.usage == Usage(input_tokens=24, output_tokens=9, cache_read_tokens=16)


def test_incomplete_is_terminal_and_nothing_after_it_is_read():
    incomplete = (b'event: response.incomplete\ndata: {"type":"response.incomplete","response":{"status":"incomplete",'
                  b'"incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":5,'
                  b'"output_tokens":16}}}\n\n')
    later = (b'event: response.completed\ndata: {"type":"response.completed","response":{"usage":'
             b'{"input_tokens":999,"output_tokens":999}}}\n\ndata: [DONE]\n\n')
    tap = openai_responses.StreamTap()
    assert tap.feed(incomplete + later) == incomplete + later
    assert tap.usage == Usage(5, 16, 0, 0) and tap.error is None
    assert tap.response_id is None  # no id on the event that ended it (the later one is not read)


# --- stored responses and their follow-ups (issue 13) ---------------------------


def test_the_previous_response_a_request_names() -> None:
    assert openai_responses.previous_response_id({"previous_response_id": "resp_1"}) == "resp_1"
    for odd in (None, "", 7, ["resp_1"], "r" * 257):
        assert openai_responses.previous_response_id({"previous_response_id": odd}) is None
    assert openai_responses.previous_response_id({}) is None
    assert openai_responses.previous_response_id({"previous_response_id": "r" * 256}) == "r" * 256


def test_only_store_false_asks_not_to_store() -> None:
    assert openai_responses.asks_to_store({}) and openai_responses.asks_to_store({"store": True})
    assert openai_responses.asks_to_store({"store": None})  # not false: OpenAI's default
    assert not openai_responses.asks_to_store({"store": False})


def test_the_stored_id_of_an_ended_response_not_saying_store_false() -> None:
    stored = openai_responses.stored_id
    assert stored({"id": "resp_1", "status": "completed"}) == "resp_1"
    assert stored({"id": "resp_1", "status": "incomplete", "store": True}) == "resp_1"
    assert stored({"id": "resp_1", "status": "completed", "store": False}) is None  # the ChatGPT backend
    assert stored({"id": "resp_1", "status": "failed"}) is None
    assert stored({"id": "resp_1", "status": "in_progress"}) is None
    assert stored({"status": "completed"}) is None and stored({"id": 5, "status": "completed"}) is None
    # On a stream the terminal event says how it ended.
    assert stored({"id": "resp_1"}, "response.completed") == "resp_1"
    assert stored({"id": "resp_1"}, "response.incomplete") == "resp_1"
    assert stored({"id": "resp_1", "status": "completed"}, "response.failed") is None


def test_read_body_gives_usage_model_and_stored_id_from_one_decode() -> None:
    body = json.dumps({"id": "resp_9", "object": "response", "status": "completed", "model": "gpt-5",
                       "usage": {"input_tokens": 50, "input_tokens_details": {"cached_tokens": 20},
                                 "output_tokens": 7}}).encode()
    assert openai_responses.read_body(body) == (Usage(30, 7, 0, 20), "gpt-5", "resp_9")
    assert openai_responses.read_body(body)[:2] == openai_responses.usage_from_body(body)
    assert openai_responses.read_body(b"nope") == (None, None, None)
    assert openai_responses.read_body(b"[1]") == (None, None, None)


def test_a_stream_saying_store_false_or_failing_leaves_no_id() -> None:
    unstored = RECORDED.replace(b'"status":"completed"', b'"status":"completed","store":false')
    tap = openai_responses.StreamTap()
    tap.feed(unstored)
    assert tap.usage == RECORDED_USAGE and tap.response_id is None
    tap = openai_responses.StreamTap()
    for event in responses_stream("gpt-x", failed=True):
        tap.feed(event)
    assert tap.response_id is None


def test_error_event_recorded():
    event = (b'event: error\ndata: {"type":"error","sequence_number":3,"code":"rate_limit_exceeded",'
             b'"message":"Slow down","param":null}\n\n')
    tap = openai_responses.StreamTap()
    tap.feed(event)
    assert tap.error == "rate_limit_exceeded: Slow down"


def test_events_without_event_lines_still_read():
    # Some relays send only data lines; the type is in the JSON.
    data = b"".join(line for line in RECORDED.splitlines(keepends=True) if not line.startswith(b"event:"))
    tap = openai_responses.StreamTap()
    tap.feed(data)
    assert tap.usage == RECORDED_USAGE
    tap = openai_responses.StreamTap()
    tap.feed(OPENAI.stream_error(502, "upstream stream broke"))
    assert tap.error == "bad_gateway: upstream stream broke"


def test_failure_status_is_429_for_limits_and_502_otherwise() -> None:
    assert openai_responses.failure_status({"code": "rate_limit_exceeded", "message": "x"}) == 429
    assert openai_responses.failure_status({"type": "usage_limit_reached"}) == 429
    assert openai_responses.failure_status({"code": "server_error"}) == 502
    # Odd shapes (an upstream's, or a fuzzer's) are a 502, never an exception.
    assert openai_responses.failure_status({"code": ["rate_limit_exceeded"], "type": {}}) == 502
    assert openai_responses.failure_status(None) == 502
