"""Which translator pair bridges a client's format to an account's: (client, upstream) -> `Bridge`.

The relay asks this once per account type and client format (at start, not per
request) and puts the pair found between the route and the adapter.

`BRIDGES` holds every crossing, built once at import: the pairs written with
Anthropic Messages on one side, and for a client and a target that are both
something else, the client's pair onto Messages composed with the Messages
pair onto the target (`compose`: an OpenAI chat client on a Gemini account is
chat -> Messages -> Gemini).
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..wire import ANTHROPIC_MESSAGES, WireFormat
from . import (
    anthropic_gemini,
    anthropic_openai_chat,
    anthropic_openai_responses,
    gemini_anthropic,
    openai_chat_anthropic,
    openai_responses_anthropic,
)
from .base import Bridge
from .compose import compose

# The pairs written by hand: one side of each is Messages.
PAIRS: Mapping[tuple[WireFormat, WireFormat], Bridge] = {
    (b.client, b.upstream): b
    for b in (
        anthropic_openai_chat.BRIDGE, anthropic_openai_responses.BRIDGE, anthropic_gemini.BRIDGE,
        openai_chat_anthropic.BRIDGE, openai_responses_anthropic.BRIDGE, gemini_anthropic.BRIDGE,
    )
}


def _every_crossing(pairs: Mapping[tuple[WireFormat, WireFormat], Bridge]) -> dict[tuple[WireFormat, WireFormat], Bridge]:
    table = dict(pairs)
    for (client, pivot), onto in pairs.items():
        if pivot != ANTHROPIC_MESSAGES:
            continue
        for (start, target), onward in pairs.items():
            if start == ANTHROPIC_MESSAGES and target != client:
                table.setdefault((client, target), compose(onto, onward))
    return table


BRIDGES: Mapping[tuple[WireFormat, WireFormat], Bridge] = _every_crossing(PAIRS)


def find(client: WireFormat, upstream: Iterable[WireFormat]) -> Bridge | None:
    """The pair from `client` to the first of `upstream` (an account's formats, its own
    first) that has one, or None."""
    for target in upstream:
        bridge = BRIDGES.get((client, target))
        if bridge is not None:
            return bridge
    return None
