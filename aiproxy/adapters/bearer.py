"""An OAuth account's access token as `Authorization: Bearer`, refreshed and resent once if refused.

The token comes from the TokenManager, which refreshes it shortly before it
expires. An upstream may still refuse one that looked fresh (revoked, or pasted
without an expiry): on that 401 the flow asks for a new token once, naming the
refused one, and sends the same request again; a second 401 is the answer. The
request body is bytes (the adapters never stream one up), so it can be resent.

A TokenError (no usable token: the refresh failed or was refused) propagates
out of `client.send`; the adapter answers it in its client's API shape. httpx
closes the response in hand if the flow raises or is cancelled (a client
disconnect during a refresh), so no upstream response is left open.
"""

from __future__ import annotations

from typing import Any, AsyncGenerator, Generator

import httpx

from ..oauth.tokens import TokenManager
from ..stores.entities import Account


class OAuthBearer(httpx.Auth):
    """The Bearer token of one request (or of the few calls one request makes, which share it)."""

    def __init__(self, tokens: TokenManager, account: Account, credentials: dict[str, Any]) -> None:
        self.tokens = tokens
        self.account = account
        self.credentials = credentials
        # The token last sent: a later call of the same request starts from it,
        # and a refusal names it so the manager refreshes (once for all callers).
        self.token: str | None = None

    def sign(self, request: httpx.Request, token: str) -> None:
        """Put `token` on `request`; subclasses add what changes with the token."""
        request.headers["authorization"] = "Bearer " + token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.token is None:
            self.token = await self.tokens.access_token(self.account, self.credentials)
        self.sign(request, self.token)
        response = yield request
        if response.status_code != 401:
            return
        # Read (it is small) so its connection goes back to the pool while the
        # refresh runs; httpx would read it before resending anyway.
        await response.aread()
        self.token = await self.tokens.access_token(self.account, self.credentials, rejected=self.token)
        # A new request, as httpx makes for a redirect: the refused one stays as it was sent.
        retry = httpx.Request(request.method, request.url, headers=request.headers, stream=request.stream,
                              extensions=request.extensions)
        self.sign(retry, self.token)
        yield retry

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # The TokenManager is async: a sync client would otherwise send the request unsigned.
        raise RuntimeError("OAuthBearer works with httpx.AsyncClient only")
