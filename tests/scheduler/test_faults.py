from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from aiproxy.scheduler.faults import (
    Fault,
    FaultDefaults,
    classify,
    parse_duration,
    parse_retry_after,
    upstream_message,
)

NOW = datetime(2026, 11, 26, 6, 0, 0, tzinfo=timezone.utc).timestamp()
DAY = 86400.0


def _j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _anthropic_error(kind: str, message: str) -> bytes:
    return _j({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011"})


def _openai_error(code: str, message: str, kind: str | None = None) -> bytes:
    return _j({"error": {"message": message, "type": kind or code, "param": None, "code": code}})


def _gemini_error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    return _j({"error": {"code": code, "message": message, "status": status, "details": details or []}})


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    "text, seconds",
    [("1s", 1.0), ("6m0s", 360.0), ("12ms", 0.012), ("1h2m3.5s", 3723.5), ("37s", 37.0), ("1.5s", 1.5),
     ("0s", 0.0), ("20", 20.0), ("2.5", 2.5), (" 7s ", 7.0), ("500us", 0.0005), ("500µs", 0.0005),
     ("100ns", 1e-7), (".5s", 0.5), ("1h", 3600.0), ("2m", 120.0)],
)
def test_parse_duration(text: str, seconds: float):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", " ", "s", "-1s", "1x", "1s garbage", "1 s", "abc", "1h-2m", "ms", "1e3s",
                                  "nan", "inf", None, 5])
def test_parse_duration_malformed_is_none(text: Any):
    assert parse_duration(text) is None


def test_parse_retry_after():
    assert parse_retry_after("30", NOW) == NOW + 30
    assert parse_retry_after(" 1.5 ", NOW) == NOW + 1.5
    assert parse_retry_after("Thu, 26 Nov 2026 06:05:00 GMT", NOW) == NOW + 300
    for bad in ["", "-5", "soon", "Thu, 99 Nov 2026 06:05:00 GMT", None, "1e309"]:
        assert parse_retry_after(bad, NOW) is None, bad


def test_upstream_message_shapes():
    assert upstream_message(json.loads(_anthropic_error("authentication_error", "invalid x-api-key"))) == \
        "invalid x-api-key"
    assert upstream_message(json.loads(_openai_error("invalid_api_key", "Incorrect API key provided"))) == \
        "Incorrect API key provided"
    assert upstream_message(json.loads(_gemini_error(403, "PERMISSION_DENIED", "denied"))) == "denied"
    assert upstream_message({"error": {"error": {"message": "wrapped"}}}) == "wrapped"
    assert upstream_message({"message": "The security token included in the request is invalid."}) == \
        "The security token included in the request is invalid."
    assert upstream_message({"Message": "Bedrock says"}) == "Bedrock says"
    assert upstream_message({"error": "plain string"}) == "plain string"
    assert upstream_message({"error": {"message": ""}}) is None
    assert upstream_message({}) is None


# ---------------------------------------------------------------- 2xx / 3xx / 4xx


@pytest.mark.parametrize("status", [200, 201, 204, 301, 304])
def test_ok(status: int):
    assert classify(status, {}, b'{"id":"msg_1"}', now=NOW) == Fault("ok", False, None, "ok", None)


@pytest.mark.parametrize(
    "status, body, message",
    [(400, _anthropic_error("invalid_request_error", "max_tokens: Field required"), "max_tokens: Field required"),
     (404, _anthropic_error("not_found_error", "model: claude-nope"), "model: claude-nope"),
     (413, _anthropic_error("request_too_large", "Request exceeds the maximum size"), "Request exceeds"),
     (400, _openai_error("context_length_exceeded", "This model's maximum context length is 128000 tokens",
                         "invalid_request_error"), "maximum context length"),
     (404, _openai_error("model_not_found", "The model `gpt-9` does not exist"), "gpt-9"),
     (422, b"not json", None),
     (400, _gemini_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."), "invalid argument")],
)
def test_client_errors_do_not_fail_over(status: int, body: bytes, message: str | None):
    f = classify(status, {}, body, now=NOW)
    assert (f.kind, f.failover, f.until, f.mark) == ("client", False, None, None)
    assert f.reason.startswith(f"client error {status}")
    if message:
        assert message in f.reason


@pytest.mark.parametrize(
    "status, body, message",
    [(401, _anthropic_error("authentication_error", "invalid x-api-key"), "invalid x-api-key"),
     (403, _anthropic_error("permission_error", "OAuth token does not meet scope requirement"), "OAuth token"),
     (401, _openai_error("invalid_api_key", "Incorrect API key provided: sk-abc"), "Incorrect API key"),
     (403, _gemini_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers"), "unregistered"),
     (403, _j({"message": "The security token included in the request is invalid."}), "security token"),
     (401, b"", None)],
)
def test_auth(status: int, body: bytes, message: str | None):
    f = classify(status, {}, body, now=NOW)
    assert (f.kind, f.failover, f.until, f.mark) == ("auth", True, None, "error")
    assert f.reason.startswith(f"auth failed ({status})")
    if message:
        assert message in f.reason


# ---------------------------------------------------------------- 429 and its hints


@pytest.mark.parametrize(
    "headers, body, until, source",
    [
        # Claude subscription (OAuth): unified reset, epoch seconds.
        ({"anthropic-ratelimit-unified-status": "rejected", "anthropic-ratelimit-unified-reset": str(int(NOW) + 3600)},
         _anthropic_error("rate_limit_error", "rate limited"), NOW + 3600, "anthropic-ratelimit-unified-reset"),
        # Azure / Anthropic API: retry-after seconds, and an HTTP date.
        ({"retry-after": "17"}, _openai_error("429", "Requests to the ChatCompletions_Create Operation..."),
         NOW + 17, "retry-after"),
        ({"Retry-After": "Thu, 26 Nov 2026 06:10:00 GMT"}, b"", NOW + 600, "retry-after"),
        # Anthropic API per-kind limits: the exhausted one.
        ({"anthropic-ratelimit-requests-remaining": "12", "anthropic-ratelimit-requests-reset": "2026-11-26T06:00:05Z",
          "anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": "2026-11-26T06:00:40Z",
          "anthropic-ratelimit-input-tokens-remaining": "0",
          "anthropic-ratelimit-input-tokens-reset": "2026-11-26T06:00:30Z"},
         _anthropic_error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
         NOW + 40, "anthropic-ratelimit-*-reset"),
        # ... none exhausted: the earliest.
        ({"anthropic-ratelimit-requests-reset": "2026-11-26T06:00:05Z",
          "anthropic-ratelimit-output-tokens-reset": "2026-11-26T06:00:50.5+00:00"},
         b"", NOW + 5, "anthropic-ratelimit-*-reset"),
        # OpenAI: durations.
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s",
          "x-ratelimit-remaining-tokens": "30000", "x-ratelimit-reset-tokens": "12ms"},
         _openai_error("rate_limit_exceeded", "Rate limit reached for gpt-4o", "requests"), NOW + 360,
         "x-ratelimit-reset-*"),
        ({"x-ratelimit-reset-requests": "1h2m3.5s", "x-ratelimit-reset-tokens": "1s"}, b"", NOW + 1,
         "x-ratelimit-reset-*"),
        # Codex (ChatGPT backend): only exhausted windows count.
        ({"x-codex-primary-used-percent": "100", "x-codex-primary-reset-at": str(int(NOW) + 7200),
          "x-codex-secondary-used-percent": "40", "x-codex-secondary-reset-at": str(int(NOW) + 5 * DAY)},
         _j({"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached"}}),
         NOW + 7200, "x-codex-*-reset"),
        ({"x-codex-primary-used-percent": "100.0", "x-codex-primary-reset-after-seconds": "900"}, b"",
         NOW + 900, "x-codex-*-reset"),
        ({"x-codex-primary-used-percent": "40", "x-codex-primary-reset-at": str(int(NOW) + 5 * DAY)},
         _j({"error": {"type": "usage_limit_reached", "plan_type": "plus", "resets_in_seconds": 1234}}),
         NOW + 1234, "error.resets_in_seconds"),
        ({}, _j({"error": {"type": "usage_limit_reached", "resets_at": int(NOW) + 4000}}), NOW + 4000,
         "error.resets_at"),
        ({}, _j({"detail": "Too many requests", "resets_in_seconds": 42}), NOW + 42, "resets_in_seconds"),
        # Gemini: RetryInfo in details (and the array wrapper of a non-SSE stream).
        ({}, _gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota", [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]), NOW + 37,
         "google.rpc.RetryInfo"),
        ({}, b"[" + _gemini_error(429, "RESOURCE_EXHAUSTED", "quota", [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}]) + b"]", NOW + 1.5,
         "google.rpc.RetryInfo"),
        # Nothing said: the default.
        ({}, b"", NOW + 60, "default 60s"),
        ({"retry-after": "soon"}, b"<html>429</html>", NOW + 60, "default 60s"),
    ],
)
def test_rate_limited(headers: dict[str, str], body: bytes, until: float, source: str):
    f = classify(429, headers, body, now=NOW)
    assert (f.kind, f.failover, f.mark) == ("rate_limited", True, "rate_limited")
    assert f.until == pytest.approx(until)
    assert f.reason.startswith("rate limited until 2026-11-26T") and f.reason.endswith(f"({source})")


def test_rate_limit_reason_reads_well():
    f = classify(429, {"anthropic-ratelimit-unified-reset": str(int(NOW) + 3600)}, b"", now=NOW)
    assert f.reason == "rate limited until 2026-11-26T07:00:00Z (anthropic-ratelimit-unified-reset)"


def test_precedence_between_headers():
    # Each hint names a different time; dropping the winner each round shows the next in line.
    groups = [
        {"anthropic-ratelimit-unified-reset": str(int(NOW) + 100)},
        {"retry-after": "200"},
        {"anthropic-ratelimit-tokens-reset": "2026-11-26T06:05:00Z"},
        {"x-ratelimit-reset-requests": "400s"},
        {"x-codex-primary-used-percent": "100", "x-codex-primary-reset-at": str(int(NOW) + 500)},
    ]
    bodies = [
        {"error": {"resets_at": int(NOW) + 550}},
        {"error": {"resets_in_seconds": 600}},
        {"resets_in_seconds": 650},
        {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "700s"}]}},
    ]
    merged_body: dict[str, Any] = {"error": {}}
    for b in bodies:
        merged_body["error"].update(b.get("error", {}))
        merged_body.update({k: v for k, v in b.items() if k != "error"})
    expected = [100, 200, 300, 400, 500]
    for i, want in enumerate(expected):
        headers = {k: v for g in groups[i:] for k, v in g.items()}
        assert classify(429, headers, _j(merged_body), now=NOW).until == NOW + want, i
    # Then the body's hints, in order.
    for i, want in enumerate([550, 600, 650, 700]):
        body: dict[str, Any] = {"error": {}}
        for b in bodies[i:]:
            body["error"].update(b.get("error", {}))
            body.update({k: v for k, v in b.items() if k != "error"})
        assert classify(429, {}, _j(body), now=NOW).until == NOW + want, i


def test_past_and_absurd_resets():
    # A reset in the past (clock skew) is skipped in favour of the next hint.
    f = classify(429, {"anthropic-ratelimit-unified-reset": str(int(NOW) - 10), "retry-after": "20"}, b"", now=NOW)
    assert f.until == NOW + 20
    # More than the bound is clamped, not trusted and not ignored.
    f = classify(429, {"retry-after": str(30 * DAY)}, b"", now=NOW)
    assert f.until == NOW + 7 * DAY
    f = classify(429, {"anthropic-ratelimit-unified-reset": "99999999999999"}, b"", now=NOW)
    assert f.until == NOW + 7 * DAY
    # Milliseconds where seconds were meant.
    f = classify(429, {"anthropic-ratelimit-unified-reset": str(int(NOW + 90) * 1000)}, b"", now=NOW)
    assert f.until == NOW + 90
    for bad in ("nan", "inf", "-inf", "-5"):
        assert classify(429, {"anthropic-ratelimit-unified-reset": bad}, b"", now=NOW).until == NOW + 60, bad


def test_quota_errors():
    # OpenAI insufficient_quota: billing, not a minute's limit; the longer rest.
    body = _openai_error("insufficient_quota", "You exceeded your current quota, please check your plan")
    f = classify(429, {"retry-after": "20"}, body, now=NOW)
    assert (f.kind, f.failover, f.mark, f.until) == ("rate_limited", True, "rate_limited", NOW + 3600)
    assert "insufficient_quota" in f.reason
    # A header asking for longer still wins.
    assert classify(429, {"retry-after": "7200"}, body, now=NOW).until == NOW + 7200
    assert classify(429, {}, body, now=NOW, defaults=FaultDefaults(quota_rest=600)).until == NOW + 600
    # Anthropic's billing 400 is the account's fault, not the request's.
    billing = ("Your credit balance is too low to access the Anthropic API. "
               "Please go to Plans & Billing to upgrade or purchase credits.")
    f = classify(400, {}, _anthropic_error("invalid_request_error", billing), now=NOW)
    assert (f.kind, f.failover, f.until) == ("rate_limited", True, NOW + 3600)
    assert f.reason == "quota exhausted until 2026-11-26T07:00:00Z (credit balance too low)"
    # Gemini RESOURCE_EXHAUSTED comes with 429; a 403/400 carrying it is still quota, not auth.
    for status in (400, 403):
        f = classify(status, {}, _gemini_error(status, "RESOURCE_EXHAUSTED", "Quota exceeded"), now=NOW)
        assert (f.kind, f.mark, f.until) == ("rate_limited", "rate_limited", NOW + 60)
        f = classify(status, {}, _openai_error("insufficient_quota", "quota"), now=NOW)
        assert (f.kind, f.until) == ("rate_limited", NOW + 3600)


# ---------------------------------------------------------------- overload, 5xx


@pytest.mark.parametrize(
    "status, headers, body, until",
    [(529, {}, _anthropic_error("overloaded_error", "Overloaded"), NOW + 30),
     (529, {"retry-after": "5"}, _anthropic_error("overloaded_error", "Overloaded"), NOW + 5),
     (503, {}, _openai_error("server_overloaded", "The server is overloaded"), NOW + 30),
     (503, {}, _gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), NOW + 30),
     (500, {}, _anthropic_error("overloaded_error", "Overloaded"), NOW + 30),
     # An Anthropic stream's `error` event after a 200.
     (200, {}, _j({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}), NOW + 30),
     (503, {"x-amzn-errortype": "ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
      _j({"message": "Bedrock is unable to process your request."}), NOW + 30),
     (429, {"x-amzn-errortype": "ModelNotReadyException"}, _j({"message": "Model is not ready"}), NOW + 30),
     (400, {}, _j({"__type": "com.amazon.bedrock#ServiceUnavailableException", "message": "busy"}), NOW + 30)],
)
def test_overloaded(status: int, headers: dict[str, str], body: bytes, until: float):
    f = classify(status, headers, body, now=NOW)
    assert (f.kind, f.failover, f.mark, f.until) == ("overloaded", True, "overloaded", until)
    assert f.reason.startswith(f"overloaded ({status}) until ")


@pytest.mark.parametrize(
    "headers, body",
    [({"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
      _j({"message": "Too many requests, please wait before trying again."})),
     ({}, _j({"__type": "ThrottlingException", "message": "Too many tokens"}))],
)
def test_bedrock_throttling_is_rate_limited(headers: dict[str, str], body: bytes):
    f = classify(429, headers, body, now=NOW)
    assert (f.kind, f.mark, f.until) == ("rate_limited", "rate_limited", NOW + 60)
    f = classify(400, headers, body, now=NOW)  # the name decides, whatever the status
    assert f.kind == "rate_limited"


@pytest.mark.parametrize("status", [500, 502, 504, 520, 599])
def test_server_errors(status: int):
    f = classify(status, {}, _anthropic_error("api_error", "Internal server error"), now=NOW)
    assert (f.kind, f.failover, f.mark, f.until) == ("server_error", True, "error", NOW + 30)
    assert f.reason.startswith(f"upstream {status}: Internal server error until ")
    assert classify(status, {"retry-after": "3"}, b"", now=NOW).until == NOW + 3


def test_error_event_after_200_is_server_error():
    body = _j({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
    f = classify(200, {}, body, now=NOW)
    assert (f.kind, f.failover, f.mark) == ("server_error", True, "error")
    f = classify(200, {}, _j({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}), now=NOW)
    assert f.kind == "rate_limited"


def test_defaults_are_settings():
    d = FaultDefaults(rate_limit_rest=5, overload_cooldown=7, transport_cooldown=9)
    assert classify(429, {}, b"", now=NOW, defaults=d).until == NOW + 5
    assert classify(529, {}, b"", now=NOW, defaults=d).until == NOW + 7
    assert classify(502, {}, b"", now=NOW, defaults=d).until == NOW + 7
    assert classify(None, {}, None, now=NOW, error=httpx.ReadTimeout("slow"), defaults=d).until == NOW + 9
    # The bound applies to defaults too.
    assert classify(429, {}, b"", now=NOW, defaults=FaultDefaults(rate_limit_rest=1e9)).until == NOW + 7 * DAY


# ---------------------------------------------------------------- transport


@pytest.mark.parametrize(
    "error, kind",
    [(httpx.ReadTimeout("timed out"), "timeout"), (httpx.ConnectTimeout(""), "timeout"),
     (httpx.PoolTimeout("pool"), "timeout"), (httpx.WriteTimeout("w"), "timeout"), (TimeoutError(), "timeout"),
     (httpx.ConnectError("[Errno 111] Connection refused"), "connection"),
     (httpx.RemoteProtocolError("Server disconnected without sending a response."), "connection"),
     (httpx.ProxyError("407"), "connection"), (ConnectionResetError(104, "reset"), "connection"),
     (OSError("network unreachable"), "connection")],
)
def test_transport_errors(error: BaseException, kind: str):
    f = classify(None, {}, None, now=NOW, error=error)
    assert (f.kind, f.failover, f.mark, f.until) == (kind, True, "error", NOW + 15)
    assert f.reason.startswith(f"{kind} ({type(error).__name__}")


def test_transport_error_wins_over_status_and_cause_counts():
    assert classify(200, {}, b"", now=NOW, error=httpx.ReadTimeout("mid-stream")).kind == "timeout"
    try:
        try:
            raise TimeoutError()
        except TimeoutError as e:
            raise RuntimeError("wrapped") from e
    except RuntimeError as wrapped:
        assert classify(None, {}, None, now=NOW, error=wrapped).kind == "timeout"
    assert classify(None, {}, None, now=NOW).kind == "connection"


# ---------------------------------------------------------------- never raises


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[]", b"[1]", b'"x"', b"{", b"\xff\xfe", b'{"error": null}', b'{"error": []}',
     b'{"error": {"details": "no"}}', b'{"error": {"details": [null, 1, {"@type": 5}]}}',
     b'{"error": {"details": [{"@type": "google.rpc.RetryInfo", "retryDelay": {"seconds": 3}}]}}',
     b'{"error": {"resets_in_seconds": "soon", "resets_at": [1]}}', b'{"resets_in_seconds": {"a": 1}}',
     b'{"type": "error", "error": "x"}', b'{"error": {"type": 5, "code": 429, "status": ["x"]}}',
     b"x" * 300_000, None],
)
@pytest.mark.parametrize("status", [None, 0, 200, 401, 404, 429, 503, 500])
def test_malformed_body_never_raises(body: bytes | None, status: int | None):
    f = classify(status, {}, body, now=NOW)
    assert isinstance(f, Fault)
    assert f.until is None or (math.isfinite(f.until) and NOW < f.until <= NOW + 7 * DAY)


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": ""}, {"retry-after": "-1"}, {"retry-after": "1e999"}, {"retry-after": "Mon, 32 Foo"},
     {"anthropic-ratelimit-unified-reset": "tomorrow"}, {"anthropic-ratelimit-tokens-reset": "2026-13-45T99:00:00Z"},
     {"anthropic-ratelimit-tokens-reset": ""}, {"x-ratelimit-reset-requests": "6m0"},
     {"x-ratelimit-reset-tokens": "-1s"}, {"x-codex-primary-used-percent": "full", "x-codex-primary-reset-at": "1"},
     {"x-codex-primary-used-percent": "100", "x-codex-primary-reset-at": "later"},
     {"x-codex-primary-used-percent": "100", "x-codex-primary-reset-after-seconds": "9e999"},
     {"x-amzn-errortype": ""}, {"x-amzn-errortype": ":::"}],
)
def test_malformed_headers_fall_back_to_default(headers: dict[str, str]):
    f = classify(429, headers, b"", now=NOW)
    assert (f.kind, f.until) == ("rate_limited", NOW + 60)
    assert f.reason.endswith("(default 60s)")


def test_headers_object_is_case_insensitive():
    h = httpx.Headers({"Retry-After": "9", "X-Amzn-ErrorType": "ThrottlingException"})
    f = classify(400, h, b"", now=NOW)
    assert (f.kind, f.until) == ("rate_limited", NOW + 9)


def test_upstream_timeouts_and_bedrock_model_errors():
    f = classify(408, {}, b"", now=NOW)
    assert (f.kind, f.failover, f.mark, f.until) == ("timeout", True, "error", NOW + 15)
    f = classify(408, {"x-amzn-errortype": "ModelTimeoutException"}, _j({"message": "Model has timed out"}), now=NOW)
    assert f.kind == "timeout"
    for name in ("ModelErrorException", "ModelStreamErrorException", "InternalServerException"):
        f = classify(424, {"x-amzn-errortype": f"{name}:http://internal.amazon.com/"}, _j({"message": "boom"}),
                     now=NOW)
        assert (f.kind, f.failover, f.mark, f.until) == ("server_error", True, "error", NOW + 30), name
    # Bedrock's request-side faults stay the client's.
    f = classify(400, {"x-amzn-errortype": "ValidationException"}, _j({"message": "messages: field required"}),
                 now=NOW)
    assert (f.kind, f.failover) == ("client", False) and "messages: field required" in f.reason
    assert classify(403, {"x-amzn-errortype": "AccessDeniedException"}, b"", now=NOW).kind == "auth"


def test_payment_required_is_quota():
    f = classify(402, {}, _j({"error": {"message": "Insufficient Balance"}}), now=NOW)
    assert (f.kind, f.failover, f.mark, f.until) == ("rate_limited", True, "rate_limited", NOW + 3600)
    assert f.reason.endswith("(402 payment required)")


def test_absurd_settings_do_not_raise():
    f = classify(429, {}, b"", now=NOW, defaults=FaultDefaults(rate_limit_rest=math.inf, max_rest=math.inf))
    assert f.kind == "rate_limited" and isinstance(f.reason, str)


def test_random_garbage_never_raises():
    import random

    rng = random.Random(4)
    names = ["retry-after", "anthropic-ratelimit-unified-reset", "anthropic-ratelimit-tokens-reset",
             "anthropic-ratelimit-tokens-remaining", "x-ratelimit-reset-requests", "x-ratelimit-remaining-requests",
             "x-codex-primary-used-percent", "x-codex-primary-reset-at", "x-codex-secondary-reset-after-seconds",
             "x-codex-secondary-used-percent", "x-amzn-errortype"]
    atoms = ["", "0", "100", "-1", "1e308", "nan", "6m0s", "2026-11-26T06:00:00Z", "Thu, 26 Nov 2026", "\x00", "ümlaut",
             "ThrottlingException", str(int(NOW) + 5), "9" * 40, "1.5s", "1h-1m"]
    values: list[Any] = [None, 1, -1.5, "x", [], {}, [{"@type": "google.rpc.RetryInfo", "retryDelay": "3s"}],
                         "RESOURCE_EXHAUSTED", "insufficient_quota", "overloaded_error", 1e308, True]
    for _ in range(2000):
        headers = {rng.choice(names): rng.choice(atoms) for _ in range(rng.randint(0, 5))}
        err = {k: rng.choice(values) for k in rng.sample(["type", "code", "status", "message", "details",
                                                            "resets_at", "resets_in_seconds", "error"], 3)}
        body = rng.choice([_j({"error": err}), _j({"type": "error", "error": err}), _j([{"error": err}]),
                           _j(err), _j({"error": err})[: rng.randint(0, 40)]])
        status = rng.choice([None, 0, 200, 400, 401, 402, 403, 404, 408, 429, 500, 503, 529])
        f = classify(status, headers, body, now=NOW)
        assert f.until is None or NOW < f.until <= NOW + 7 * DAY
        assert f.failover == (f.kind not in ("ok", "client"))
