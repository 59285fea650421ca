"""Which translator pair bridges a client's format to an account's: (client, upstream) -> `Bridge`.

The relay asks this once per account type and client format (at start, not per
request) and puts the pair found between the route and the adapter.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..wire import WireFormat
from . import anthropic_gemini, anthropic_openai_chat, anthropic_openai_responses
from .base import Bridge

BRIDGES: Mapping[tuple[WireFormat, WireFormat], Bridge] = {
    (b.client, b.upstream): b
    for b in (anthropic_openai_chat.BRIDGE, anthropic_openai_responses.BRIDGE, anthropic_gemini.BRIDGE)
}


def find(client: WireFormat, upstream: Iterable[WireFormat]) -> Bridge | None:
    """The pair from `client` to the first of `upstream` (an account's formats, its own
    first) that has one, or None."""
    for target in upstream:
        bridge = BRIDGES.get((client, target))
        if bridge is not None:
            return bridge
    return None
