"""Two pairs joined through the Messages format: a client on a target no single pair reaches.

Anthropic Messages is the pivot of cross-format serving. Every client format
has one pair onto an Anthropic upstream (`openai_chat_anthropic`, …) and
Anthropic clients have one pair onto every other upstream
(`anthropic_openai_chat`, …); any other crossing is those two in a row:
an OpenAI chat client on a Gemini account is the chat→Messages request then
the Messages→Gemini request, and its answer, error and stream run back the
same way (Gemini → Messages → chat). Messages is the richest of the four
formats (cache writes and reads, thinking with signatures, typed tool
results), so the middle step loses nothing the two ends share, and each
mapping rule is written once, in the pair that sees it.

The cost is a second translation per request and per stream event; the
bridged rows of bench/bench.py measure it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..usage import Usage
from ..wire import ANTHROPIC_MESSAGES
from .base import Bridge, RequestOptions, StreamTranslator, TranslatedRequest


class _Chained:
    """The target's stream translated into Messages events, those into the client's."""

    def __init__(self, inner: StreamTranslator, outer: StreamTranslator) -> None:
        self._inner = inner  # target -> Messages
        self._outer = outer  # Messages -> client
        media_type = getattr(outer, "media_type", None)
        if media_type is not None:  # the client's stream is the outer one's (a Gemini JSON array)
            self.media_type: bytes = media_type

    @property
    def usage(self) -> Usage:
        # The client-side translator counts in the client's terms, from the
        # events the inner one wrote: exact when those are.
        return self._outer.usage

    @usage.setter
    def usage(self, value: Usage) -> None:
        self._outer.usage = value

    def feed(self, chunk: bytes) -> bytes:
        middle = self._inner.feed(chunk)
        return self._outer.feed(middle) if middle else b""

    def end(self) -> bytes:
        tail = self._inner.end()
        out = self._outer.feed(tail) if tail else b""
        return out + self._outer.end()


def compose(to_messages: Bridge, from_messages: Bridge) -> Bridge:
    """The client of `to_messages` on the upstream of `from_messages`.

    The composed request's reply is both steps' replies, (client side, target
    side): each step's answer and stream get their own back.
    """
    if to_messages.upstream != ANTHROPIC_MESSAGES or from_messages.client != ANTHROPIC_MESSAGES:
        raise ValueError("compose joins a pair onto Messages with a pair from Messages")

    def request(data: dict[str, Any], options: RequestOptions) -> TranslatedRequest:
        # The first step's refusals name the client's own fields; the second
        # step only sees a Messages body the first one wrote, so what it
        # refuses is what the target cannot carry. What the client asked
        # outside its body (its model, a stream, its query) is the first
        # step's to read; the target's drop list and cap are the second's.
        middle = to_messages.request(data, RequestOptions(model=options.model, client_model=options.client_model,
                                                          stream=options.stream, client_query=options.client_query))
        onward = from_messages.request(middle.body, replace(options, stream=middle.stream, client_query=()))
        return replace(onward, reply=(middle.reply, onward.reply))

    def answer(body: bytes, reply: tuple[Any, Any]) -> bytes:
        outer, inner = reply
        return to_messages.answer(from_messages.answer(body, inner), outer)

    def error(status: int, body: bytes) -> bytes:
        return to_messages.error(status, from_messages.error(status, body))

    def stream(reply: tuple[Any, Any]) -> StreamTranslator:
        outer, inner = reply
        return _Chained(from_messages.stream(inner), to_messages.stream(outer))

    return Bridge(
        client=to_messages.client,
        upstream=from_messages.upstream,
        request=request,
        answer=answer,
        error=error,
        stream=stream,
    )
