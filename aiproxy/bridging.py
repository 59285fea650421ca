"""The relay's half of serving a client on an account of another format (issues 12 and 13).

An account that does not speak a route's client format is reached through a
translator pair (formats/bridges): the request is translated before the
adapter sees it, the answer (whole, error, or stream) after. `BridgedType` is
what the relay knows of an account type such accounts may be of, derived once
from the account-type registry (`bridged_types`); whether one account is
(its options may narrow its formats: a chat-only OpenAI-compatible server on
the Responses routes) is `BridgedType.crossing`. `BridgedTap` feeds a stream
through the pair's translator and then through the route's own tap, so the
route's tap reads the translated events, and the usage recorded is the
translator's, exact in the client's terms. Adapters never learn that a
request was translated: they get an `UpstreamCall` in their own format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol
from urllib.parse import urlencode

import orjson

from .adapters.base import UpstreamCall
from .formats import anthropic, gemini, openai_chat, openai_responses
from .formats.bridges import registry
from .formats.bridges.base import Bridge, RequestOptions, StreamTranslator, Untranslatable, UpstreamCount
from .formats.usage import Usage
from .formats.wire import (
    CHAT_PATH,
    GEMINI_GENERATE_PATH,
    GEMINI_STREAM_PATH,
    MESSAGES_PATH,
    RESPONSES_PATH,
    WireFormat,
)
from .headers import allowed_for_format, upstream_request_headers
from .model_limits import OutputCaps
from .upstream_path import fill_model

# The upstream paths a translated request may take, per target format: an
# account type limited to some paths (AccountType.paths) is bridged only if
# they include these.
_PATHS: Mapping[WireFormat, tuple[str, ...]] = {
    "anthropic-messages": (MESSAGES_PATH,),
    "openai-chat": (CHAT_PATH,),
    "openai-responses": (RESPONSES_PATH,),
    "gemini": (GEMINI_GENERATE_PATH, GEMINI_STREAM_PATH),
}


class _TypeLike(Protocol):
    # What bridged_types reads of an accounts.base.AccountType (the relay does not import accounts).
    @property
    def name(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def formats(self) -> tuple[WireFormat, ...]: ...
    @property
    def paths(self) -> tuple[str, ...] | None: ...
    @property
    def bridge_drop(self) -> Callable[[Mapping[str, Any]], frozenset[str]] | None: ...
    @property
    def models(self) -> tuple[str, ...]: ...
    def speaks(self, options: Mapping[str, Any]) -> tuple[WireFormat, ...]: ...


@dataclass(frozen=True)
class BridgedType:
    """An account type reached from a client format it does not speak."""

    name: str
    platform: str
    client: WireFormat
    speaks: Callable[[Mapping[str, Any]], tuple[WireFormat, ...]]
    drop: Callable[[Mapping[str, Any]], frozenset[str]] | None = None
    # The models the type is known to serve (AccountType.models): what a model
    # list shows for its accounts that list none of their own.
    models: tuple[str, ...] = ()

    def bridge(self, options: Mapping[str, Any]) -> Bridge | None:
        """The pair for an account of this type with these options (its formats may narrow)."""
        return registry.find(self.client, self.speaks(options))

    def crossing(self, options: Mapping[str, Any]) -> Bridge | None:
        """The pair an account of this type with these options is reached through
        from the client's format; None when it speaks that format itself (it is
        served natively) or no pair reaches what it speaks."""
        formats = self.speaks(options)
        return None if self.client in formats else registry.find(self.client, formats)


def bridged_types(types: Iterable[_TypeLike]) -> dict[WireFormat, dict[str, BridgedType]]:
    """Client format -> the account types whose accounts may be reached from it through a pair, by name.

    A type that speaks the client's format is listed too when a pair reaches
    one of its other formats: an option may narrow an account's formats to
    those (`BridgedType.crossing` says per account).
    """
    clients = {client for client, _ in registry.BRIDGES}
    table: dict[WireFormat, dict[str, BridgedType]] = {}
    for client in sorted(clients):
        for t in types:
            others = tuple(f for f in t.formats if f != client)
            bridge = registry.find(client, others)
            if bridge is None:
                continue
            if t.paths is not None and not set(_PATHS.get(bridge.upstream, ())) & set(t.paths):
                continue
            table.setdefault(client, {})[t.name] = BridgedType(t.name, t.platform, client, t.speaks, t.bridge_drop,
                                                               tuple(t.models))
    return table


# Usage read from a whole answer in each upstream format, normalised (formats.usage):
# a bridged answer's record is read from the upstream's own counts, before the
# pair rewrites them into a client format that may have no field for some
# (Gemini's has none for cache writes).
_BODY_USAGE: Mapping[WireFormat, Callable[[bytes], tuple[Usage | None, str | None]]] = {
    "anthropic-messages": anthropic.usage_from_body,
    "openai-chat": openai_chat.usage_from_body,
    "openai-responses": openai_responses.usage_from_body,
    "gemini": gemini.usage_from_body,
}


@dataclass(frozen=True, slots=True)
class Crossing:
    """One attempt's translation: the pair, what its answer needs of the request
    (`TranslatedRequest.reply`), whether it streams, and whether it is a token
    count (answered by the pair's `count`)."""

    bridge: Bridge
    reply: Any
    stream: bool
    counting: bool = False

    def tap(self, route_tap: Any) -> BridgedTap:
        return BridgedTap(self.bridge.stream(self.reply), route_tap)

    def upstream_usage(self, body: bytes) -> Usage | None:
        """The usage a 2xx whole answer reports, in the upstream's own terms (exact
        whatever the client's format can carry); None for a count, or none found."""
        if self.counting:
            return None
        return _BODY_USAGE[self.bridge.upstream](body)[0]

    def answer(self, body: bytes) -> bytes:
        """A 2xx upstream answer in the client's format."""
        if self.counting and isinstance(self.bridge.count, UpstreamCount):
            return self.bridge.count.answer(body)
        return self.bridge.answer(body, self.reply)


def bridged_call(
    bridge: Bridge,
    data: dict[str, Any],
    client_headers: Iterable[tuple[bytes, bytes]],
    method: str,
    upstream_model: str,
    drop: frozenset[str],
    caps: OutputCaps | None = None,
    *,
    count: bool = False,
    client_model: str = "",
    stream: bool = False,
    client_query: tuple[tuple[str, str], ...] = (),
) -> tuple[UpstreamCall, Crossing]:
    """The client's body translated into the account's format, as the adapter is handed it
    (with `count`, the pair's token count request: `Bridge.count`, an `UpstreamCount`),
    and how its answer is translated back.

    Raises `Untranslatable` (a 400 for the client) or `UnsafePathValue`. The
    client's query string is not forwarded: it was written for the client's
    API (Claude Code's `?beta=true`); the target's own comes from the pair,
    which reads the client's (`client_query`: Gemini's `alt=sse`). With
    `caps`, the pair clamps the client's output limit to the upstream model's
    cap. `client_model` is the name the client asked for (its answers carry
    it), `stream` whether it asked for a stream.
    """
    max_output = caps.max_output(upstream_model) if caps is not None else None
    translate = bridge.request
    if count:
        if not isinstance(bridge.count, UpstreamCount):
            raise Untranslatable("model", f"a {bridge.upstream} account cannot count this API's tokens")
        translate = bridge.count.request
    translated = translate(data, RequestOptions(model=upstream_model, drop=drop, max_output=max_output,
                                                client_model=client_model, stream=stream, client_query=client_query))
    call = UpstreamCall(
        method=method,
        path=fill_model(translated.path, upstream_model),  # Gemini names the model in the path
        query=urlencode(translated.query),
        headers=upstream_request_headers(client_headers, allowed_for_format(bridge.upstream)),
        body=orjson.dumps(translated.body),
        json=translated.body,
        model=upstream_model,
        stream=translated.stream,
    )
    # A count's answer needs no reply: the pair's count answer reads the body alone.
    return call, Crossing(bridge, translated.reply, translated.stream, count)


class _Passing:
    # The route's tap where it has none: the translator's own usage, the bytes unchanged.
    def __init__(self, usage: Usage) -> None:
        self.usage = usage
        self.model: str | None = None
        self.error: str | None = None

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def end(self) -> bytes:
        return b""


_SSE = b"text/event-stream; charset=utf-8"


class BridgedTap:
    """A stream translated on its way, then read by the route's tap (a relay.StreamTap).

    The route's tap sees the client's format, as it would from a native
    account: its model, error, `complete` and `response_id` are the translated
    stream's. Usage is the translator's own: it counts the upstream's events
    in the client's terms (cache writes too, which a client format such as
    Chat's may not carry, or carry only when the client asked for a usage chunk).
    """

    def __init__(self, translator: StreamTranslator, route_tap: Any | None) -> None:
        self._translator = translator
        self._tap = route_tap if route_tap is not None else _Passing(translator.usage)

    @property
    def usage(self) -> Usage:
        # Read again at the stream's end (relay): a translator may replace its Usage as it goes.
        return self._translator.usage

    @property
    def media_type(self) -> bytes:
        """The content type of the client's stream: SSE, unless the translator
        says otherwise (an optional `media_type`: Gemini's JSON-array stream)."""
        media_type: bytes = getattr(self._translator, "media_type", _SSE)
        return media_type

    @property
    def model(self) -> str | None:
        model: str | None = self._tap.model
        return model

    @property
    def error(self) -> str | None:
        error: str | None = self._tap.error
        return error

    @property
    def complete(self) -> bool:
        return bool(getattr(self._tap, "complete", False))

    @property
    def response_id(self) -> str | None:
        # The translated answer's id (a Responses client's): remembered like a
        # native one, so its follow-up comes back here and is told this account keeps no history.
        response_id: str | None = getattr(self._tap, "response_id", None)
        return response_id

    def feed(self, chunk: bytes) -> bytes:
        out = self._translator.feed(chunk)
        translated: bytes = self._tap.feed(out) if out else b""
        return translated

    def end(self) -> bytes:
        tail = self._translator.end()
        out: bytes = self._tap.feed(tail) if tail else b""
        return out + self._tap.end()
