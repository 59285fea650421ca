"""What every adapter is given and must do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ..stores.entities import Account


@dataclass
class UpstreamCall:
    """The client's request, reduced to what an adapter needs to forward it."""

    method: str
    path: str  # the upstream API path, e.g. "/v1/messages"
    query: str  # the client's query string, minus our own auth parameter
    headers: list[tuple[bytes, bytes]]  # the client's headers, credentials already removed
    body: bytes  # what to send: the client's bytes, or `json` re-encoded if it was changed
    json: dict[str, Any] | None = None  # the body parsed (for adapters that must change it)
    model: str | None = None  # the model as this upstream names it (after the account's mapping)
    stream: bool = False


class Adapter(Protocol):
    """How the gateway talks to one account type's upstream.

    Which type an adapter serves, and which paths, is its account type's
    declaration (aiproxy/accounts): the adapter only sends.
    """

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        """Send `call` to the account's upstream; return the response unread.

        The response is opened with `stream=True`: the caller reads it and must
        `aclose()` it.
        """
        ...
