"""What an upstream's answer (or its silence) means for the account that gave it.

`classify` is pure: status, headers, body and the transport error in, a `Fault`
out, `now` passed in so tests and callers agree on time. It never raises: a
malformed header or body only loses its hint and the defaults apply. Rules:

  transport error / no status      timeout or connection, transport cooldown
  408, Bedrock ModelTimeout        timeout (the upstream's own), transport cooldown
  402, insufficient_quota,         rate_limited for at least `quota_rest`: billing,
    Anthropic "credit balance"       the account's fault, not the request's
  503, 529, overloaded_error,      overloaded, retry-after or overload cooldown
    Bedrock ServiceUnavailable/ModelNotReady
  429, Bedrock Throttling,         rate_limited, until from the hints (see classify)
    rate_limit_error, RESOURCE_EXHAUSTED (Gemini sends it with 429; a 400/403 carrying it is quota too)
  other 5xx, Bedrock model errors, server_error, retry-after or overload cooldown
    an `error` event after a 200
  401, 403                         auth, no until: lasts until someone acts
  other 4xx                        client: the request's own fault, no failover
  1xx-3xx                          ok

Marks: "rate_limited" and "overloaded" with `until`; "error" with `until` is a
short cooldown (5xx, timeout, connection); "error" without `until` (auth) stays.
401/403 reach here only after the adapter has refreshed an OAuth token once and
retried: by then the credentials themselves are bad.

Transport errors: httpx's classes (httpx is a core dependency already, so the
import costs nothing and is exact), plus the builtin TimeoutError and any class
named *Timeout* (anyio, aiohttp under httpx-aiohttp) for the timeout kind, on
the error or its __cause__; every other exception counts as a connection fault.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Mapping

import httpx
import orjson

Kind = Literal["ok", "rate_limited", "overloaded", "server_error", "timeout", "connection", "auth", "client"]
Mark = Literal["rate_limited", "overloaded", "error"]

# Error bodies are small; a huge body is not worth parsing for a hint.
_MAX_BODY = 256 * 1024


@dataclass(frozen=True)
class FaultDefaults:
    """Rests used when the upstream does not say how long (all in seconds)."""

    rate_limit_rest: float = 60.0
    quota_rest: float = 3600.0  # billing/quota exhaustion: retrying in a minute is pointless
    overload_cooldown: float = 30.0  # 529/503 and other 5xx
    transport_cooldown: float = 15.0  # timeout, connection failure
    max_rest: float = 7 * 86400.0  # longest rest any header may impose


@dataclass(frozen=True)
class Fault:
    kind: Kind
    failover: bool  # may the request move to another account (if nothing was sent yet)
    until: float | None  # epoch seconds the account should rest
    reason: str
    mark: Mark | None


DEFAULTS = FaultDefaults()

_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


# The outcome of an answer that was fine: nothing to mark, nothing to retry.
OK = Fault(kind="ok", failover=False, until=None, reason="", mark=None)


def parse_duration(text: str | None) -> float | None:
    """Go-style durations (OpenAI's `6m0s`, `12ms`, `1h2m3.5s`; Gemini's `37s`)
    in seconds; a bare number counts as seconds. None when malformed."""
    if not isinstance(text, str):
        return None
    s = text.strip()
    if _NUMBER.fullmatch(s):
        return float(s)
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    return total if pos == len(s) and pos > 0 else None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`retry-after` as epoch seconds: delay seconds or an HTTP date. None when malformed."""
    if not isinstance(value, str):
        return None
    s = value.strip()
    if _NUMBER.fullmatch(s):
        return now + float(s)
    try:
        when = parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _epoch(value: Any) -> float | None:
    try:
        t = float(value)
    except (TypeError, ValueError):
        return None
    # Milliseconds slip in from some relays; no real reset lies past year 33658.
    return t / 1000.0 if t > 1e12 else t


def _rfc3339(value: str | None) -> float | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _pick(resets: list[tuple[float, bool]]) -> float | None:
    """One rest out of several limits' resets: the account serves again only when
    every exhausted limit has reset, so the latest exhausted one. When no limit
    says it is exhausted we cannot tell which tripped: the earliest, the soonest
    the account may serve (at worst one more 429 sets a new rest)."""
    spent = [t for t, exhausted in resets if exhausted]
    if spent:
        return max(spent)
    return min((t for t, _ in resets), default=None)


def _parse_body(body: bytes | None) -> dict[str, Any]:
    if not body or len(body) > _MAX_BODY:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    # Gemini's non-SSE stream answers errors as a one-element JSON array.
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    return data if isinstance(data, dict) else {}


def _error(data: dict[str, Any]) -> dict[str, Any]:
    err = data.get("error")
    if isinstance(err, dict) and isinstance(err.get("error"), dict):
        err = err["error"]  # relays that wrap the upstream's error once more
    return err if isinstance(err, dict) else {}


def upstream_message(data: dict[str, Any]) -> str | None:
    """The human message of an Anthropic, OpenAI, Gemini or Bedrock error object."""
    err = _error(data)
    for src, key in ((err, "message"), (data, "message"), (data, "Message"), (data, "error")):
        msg = src.get(key)
        if isinstance(msg, str) and msg.strip():
            return msg.strip()[:300]
    return None


# Bedrock's names for its own failures, whatever status they come with (424 for ModelErrorException).
_BEDROCK_SERVER = frozenset({"internalserverexception", "modelerrorexception", "modelstreamerrorexception"})


def _bedrock_type(h: Mapping[str, str], data: dict[str, Any]) -> str:
    # Header: "ThrottlingException:http://internal.amazon.com/..."; body `__type`: "ns#ThrottlingException".
    raw = h.get("x-amzn-errortype") or data.get("__type") or ""
    return str(raw).split(":")[0].split("#")[-1].lower()


def _rate_limit_until(h: Mapping[str, str], data: dict[str, Any], now: float) -> list[tuple[float | None, str]]:
    """Every hint of when a rate limit ends, in order of precedence, with its source."""
    hints: list[tuple[float | None, str]] = [
        (_epoch(h.get("anthropic-ratelimit-unified-reset")), "anthropic-ratelimit-unified-reset"),
        (parse_retry_after(h.get("retry-after"), now), "retry-after"),
    ]
    anthropic: list[tuple[float, bool]] = []
    for k in ("requests", "tokens", "input-tokens", "output-tokens"):
        t = _rfc3339(h.get(f"anthropic-ratelimit-{k}-reset"))
        if t is not None:
            anthropic.append((t, (h.get(f"anthropic-ratelimit-{k}-remaining") or "").strip() == "0"))
    hints.append((_pick(anthropic), "anthropic-ratelimit-*-reset"))
    openai: list[tuple[float, bool]] = []
    for k in ("requests", "tokens"):
        d = parse_duration(h.get(f"x-ratelimit-reset-{k}"))
        if d is not None:
            openai.append((now + d, (h.get(f"x-ratelimit-remaining-{k}") or "").strip() == "0"))
    hints.append((_pick(openai), "x-ratelimit-reset-*"))
    codex: list[tuple[float, bool]] = []
    for w in ("primary", "secondary"):
        used = _epoch(h.get(f"x-codex-{w}-used-percent"))
        if used is None or used < 100:
            continue  # a window with room left did not cause this 429: its reset may be days away
        at = _epoch(h.get(f"x-codex-{w}-reset-at"))
        after = parse_duration(h.get(f"x-codex-{w}-reset-after-seconds"))
        t = at if at is not None else (now + after if after is not None else None)
        if t is not None:
            codex.append((t, True))
    hints.append((_pick(codex), "x-codex-*-reset"))
    err = _error(data)
    hints.append((_epoch(err.get("resets_at")), "error.resets_at"))
    for src, name in ((err, "error.resets_in_seconds"), (data, "resets_in_seconds")):
        secs = _epoch(src.get("resets_in_seconds"))
        hints.append((now + secs if secs is not None else None, name))
    details = err.get("details")
    for d in details if isinstance(details, list) else []:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            secs = parse_duration(d.get("retryDelay"))
            hints.append((now + secs if secs is not None else None, "google.rpc.RetryInfo"))
    return hints


def _first(hints: list[tuple[float | None, str]], now: float, limit: float) -> tuple[float, str] | None:
    for t, source in hints:
        # Past, NaN or infinite resets are noise (clock skew, garbage): try the next hint.
        if t is None or not math.isfinite(t) or t <= now:
            continue
        return min(t, now + limit), source
    return None


def _stamp(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):  # only with absurd settings (max_rest=inf)
        return f"{t:.0f}"


def _rest(kind: Kind, mark: Mark, what: str, hints: list[tuple[float | None, str]], default: float,
          now: float, d: FaultDefaults) -> Fault:
    found = _first(hints, now, d.max_rest)
    until, source = found if found else (now + min(default, d.max_rest), f"default {default:g}s")
    return Fault(kind, True, until, f"{what} until {_stamp(until)} ({source})", mark)


def _transport(error: BaseException, now: float, d: FaultDefaults) -> Fault:
    chain = [error, error.__cause__] if error.__cause__ is not None else [error]
    timed_out = any(isinstance(e, (httpx.TimeoutException, TimeoutError)) or "timeout" in type(e).__name__.lower()
                    for e in chain)
    kind: Kind = "timeout" if timed_out else "connection"
    until = now + min(d.transport_cooldown, d.max_rest)
    detail = f"{type(error).__name__}: {error}"[:200].rstrip(": ")
    return Fault(kind, True, until, f"{kind} ({detail}) until {_stamp(until)}", "error")


def classify(status: int | None, headers: Mapping[str, str], body: bytes | None, *, now: float,
             error: BaseException | None = None, defaults: FaultDefaults = DEFAULTS) -> Fault:
    """The fault of one upstream outcome; see the module docstring for the marks.

    Rate-limit precedence: anthropic-ratelimit-unified-reset, retry-after,
    anthropic-ratelimit-*-reset, x-ratelimit-reset-*, x-codex-*-reset (exhausted
    windows only), body resets_at / resets_in_seconds, Gemini RetryInfo, default.
    The first hint in the future wins, clamped to `defaults.max_rest`.
    """
    d = defaults
    if error is not None or status is None or status < 100:
        return _transport(error if error is not None else ConnectionError("no response"), now, d)
    try:
        h = {str(k).lower(): str(v) for k, v in headers.items()}
    except Exception:  # a broken mapping must not break the request path
        h = {}
    data = _parse_body(body)
    err = _error(data)
    etype = str(err.get("type") or "")
    ecode = str(err.get("code") or "")
    estatus = str(err.get("status") or "")
    bedrock = _bedrock_type(h, data)
    msg = upstream_message(data)
    retry = [(parse_retry_after(h.get("retry-after"), now), "retry-after")]

    # Billing limits, not a minute's rate: OpenAI's insufficient_quota (429) and
    # Anthropic's 400 "credit balance is too low" (the account, not the request,
    # is at fault). Gemini sends RESOURCE_EXHAUSTED with 429 only, but in a
    # 400/403 it still means quota (below).
    billing = status == 402 or "insufficient_quota" in (etype, ecode) \
        or "credit balance is too low" in (msg or "").lower()
    if 400 <= status < 500 and billing:
        hints = _rate_limit_until(h, data, now)
        found = _first(hints, now, d.max_rest)
        until = min(max(found[0] if found else 0.0, now + d.quota_rest), now + d.max_rest)
        why = "insufficient_quota" if "insufficient_quota" in (etype, ecode) else \
            "credit balance too low" if status != 402 else "402 payment required"
        return Fault("rate_limited", True, until, f"quota exhausted until {_stamp(until)} ({why})", "rate_limited")
    if bedrock in ("serviceunavailableexception", "modelnotreadyexception") or etype == "overloaded_error" \
            or status in (503, 529):
        return _rest("overloaded", "overloaded", f"overloaded ({status})", retry, d.overload_cooldown, now, d)
    if status == 429 or bedrock == "throttlingexception" or etype == "rate_limit_error" \
            or (400 <= status < 500 and estatus == "RESOURCE_EXHAUSTED"):
        return _rest("rate_limited", "rate_limited", "rate limited", _rate_limit_until(h, data, now),
                     d.rate_limit_rest, now, d)
    if status == 408 or bedrock == "modeltimeoutexception":
        # The upstream gave up waiting (its own timeout), whatever the request was.
        until = now + min(d.transport_cooldown, d.max_rest)
        return Fault("timeout", True, until, f"timeout (upstream {status}) until {_stamp(until)}", "error")
    if status >= 500 or bedrock in _BEDROCK_SERVER or (status < 400 and data.get("type") == "error" and err):
        # The last case: an Anthropic `error` event after a 200 (api_error and the like).
        what = f"upstream {status}" + (f": {msg}" if msg else "")
        return _rest("server_error", "error", what, retry, d.overload_cooldown, now, d)
    if status in (401, 403):
        return Fault("auth", True, None, f"auth failed ({status})" + (f": {msg}" if msg else ""), "error")
    if status >= 400:
        return Fault("client", False, None, f"client error {status}" + (f": {msg}" if msg else ""), None)
    return Fault("ok", False, None, "ok", None)
