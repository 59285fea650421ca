"""What every translator pair is: a request rewrite, an answer rewrite, a stream translator
(and, where the client's API has one, how it answers a token count)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..usage import Usage
from ..wire import WireFormat


class Untranslatable(ValueError):
    """The client asked for something the upstream format cannot carry.

    Answered 400 in the client's own error shape before any upstream call;
    `field` names the offending part of the client's body (`tools[2].input_schema`).
    Never raised for a field that changes nothing essential: those are dropped
    by the pair's written list.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = f"{field}: {message}"


# A client's value checked for the type its place needs, naming the place in
# the 400 when it is not: what every pair's request translation reads first.


def expect_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Untranslatable(where, "must be an object")
    return value


def expect_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise Untranslatable(where, "must be a list")
    return value


def expect_string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise Untranslatable(where, "must be a string")
    return value


def expect_count(value: Any, where: str) -> int:
    """A positive integer (a token limit, a count); a bool is not one."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Untranslatable(where, "must be a positive integer")
    return value


@dataclass(frozen=True)
class TranslatedRequest:
    """The client's request as the upstream format asks for it."""

    body: dict[str, Any]
    # The upstream path in the target format's own API (formats.wire), with
    # `{model}` left for upstream_path.fill_model where the target puts the
    # model in the path (Gemini).
    path: str
    stream: bool
    # Query parameters the target needs (Gemini's `alt=sse`), as `k=v` pairs.
    query: tuple[tuple[str, str], ...] = ()
    # What the pair's answer and stream need of this request, opaque to everyone
    # else (the client's model name; a pair may add what the client asked of the
    # answer: custom tools, include_usage, SSE or a JSON array). Handed back
    # to `Bridge.answer` and `Bridge.stream` for this request's answer.
    reply: Any = None


class StreamTranslator(Protocol):
    """Fed the upstream's stream as it arrives; hands back the client's events."""

    # Usage as the client format counts it, filled as the stream passes (and
    # exact at its end): what the request's usage record carries.
    usage: Usage
    # Optional: `media_type` (bytes), the content type of the client's stream
    # when it is not SSE (Gemini's JSON-array stream: application/json).

    def feed(self, chunk: bytes) -> bytes: ...

    def end(self) -> bytes:
        """What is still owed when the upstream ends (closing events; an error
        event when the upstream stopped mid-answer)."""
        ...


@dataclass(frozen=True)
class RequestOptions:
    """What a pair needs to know about the upstream beyond the body."""

    model: str  # the upstream's model name (after the account's mapping)
    # Fields the target rejects although the client may send them (the ChatGPT
    # Codex backend and `max_output_tokens`): dropped, per the account type.
    drop: frozenset[str] = field(default_factory=frozenset)
    # The upstream model's output cap (model_limits), None when unknown. A
    # client's limit above it would be refused (Claude Code's 64000 on gpt-4o's
    # 16384) and asks for nothing the model could write: the pair clamps it.
    max_output: int | None = None
    # What the request side cannot read in the body: the model name the client
    # asked for (its answers carry it), whether the client asked for a stream
    # (Gemini's streamGenerateContent says so in the path, not the body), and
    # the client's query parameters (Gemini's `alt=sse`: SSE, else a JSON array).
    client_model: str = ""
    stream: bool = False
    client_query: tuple[tuple[str, str], ...] = ()

    def clamp(self, limit: int) -> int:
        """The client's output limit, lowered to the model's cap if it is above it."""
        return limit if self.max_output is None else min(limit, self.max_output)

    def clamp_budget(self, budget: int) -> int:
        """A thinking budget kept below the model's cap, as Anthropic keeps
        `budget_tokens` below `max_tokens`: one the clamped limit could not hold
        would leave the answer no room (the cap counts thinking too)."""
        if self.max_output is None or budget < self.max_output:
            return budget
        return max(self.max_output - 1, 0)


@dataclass(frozen=True)
class UpstreamCount:
    """A token count the target's own API answers (Gemini's `countTokens`)."""

    # (client body, options) -> the target's count request (validated as the pair's
    # `request` validates, so a count refuses what a generation would refuse).
    request: Callable[[dict[str, Any], RequestOptions], TranslatedRequest]
    # (upstream JSON body of a 2xx count answer) -> client JSON body; errors go
    # through the pair's `error`, as for a generation.
    answer: Callable[[bytes], bytes]


@dataclass(frozen=True)
class LocalCount:
    """A token count the gateway answers itself, no upstream call (the target has no
    count method): an estimate, written down where the pair declares it."""

    # (client body, options) -> client JSON body; raises Untranslatable for what the
    # pair's `request` would refuse.
    answer: Callable[[dict[str, Any], RequestOptions], bytes]


@dataclass(frozen=True)
class Bridge:
    client: WireFormat
    upstream: WireFormat
    request: Callable[[dict[str, Any], RequestOptions], TranslatedRequest]
    # (upstream JSON body of a 2xx answer, the request's `TranslatedRequest.reply`) -> client JSON body
    answer: Callable[[bytes, Any], bytes]
    # (upstream status, upstream error body) -> client error body, same status
    error: Callable[[int, bytes], bytes]
    # (the request's `TranslatedRequest.reply`) -> a fresh translator for one stream
    stream: Callable[[Any], StreamTranslator]
    # How the client's token count (Anthropic's count_tokens) is answered on this
    # target; None: the pair does not serve the client's count route.
    count: UpstreamCount | LocalCount | None = None
