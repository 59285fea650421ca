"""Claude Official accounts: a Claude subscription (Pro/Max) logged in by OAuth.

The Messages API of Claude Console, with the subscription's OAuth access
token as `Authorization: Bearer` (never x-api-key), the `oauth-2025-04-20`
beta that such tokens require, and `?beta=true` on messages calls as Claude
Code sends them. The token is put on by bearer.OAuthBearer: refreshed
shortly before it expires, and once more if the upstream refuses it (401).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from ..formats.dialect import ANTHROPIC
from ..formats.wire import MESSAGES_PATH
from ..oauth.tokens import TokenError, TokenManager
from ..stores.entities import Account
from .base import UpstreamCall
from .bearer import OAuthBearer
from .claude_console import ClaudeConsoleAdapter
from .upstream import error_answer

OAUTH_BETA = "oauth-2025-04-20"


def with_oauth_beta(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The client's `anthropic-beta` values (all its header lines, in order,
    each once) plus the OAuth beta if missing, as one header."""
    # A dict, not a list: each beta keeps its first place, and a repeat is
    # found at once (a list's `in` made a 32 KiB header of betas take 0.3 s).
    betas: dict[str, None] = {}
    kept: list[tuple[bytes, bytes]] = []
    for key, value in headers:
        if key.lower() != b"anthropic-beta":
            kept.append((key, value))
            continue
        for beta in value.decode("latin-1").split(","):
            beta = beta.strip()
            if beta:
                betas[beta] = None
    betas.setdefault(OAUTH_BETA, None)
    kept.append((b"anthropic-beta", ",".join(betas).encode("latin-1")))
    return kept


def with_beta_query(path: str, query: str) -> str:
    # Claude Code calls the Messages endpoints with ?beta=true; subscription
    # traffic is expected to look like it. Other paths (models) pass through.
    if not path.startswith(MESSAGES_PATH):
        return query
    params = query.split("&") if query else []
    if any(p == "beta" or p.startswith("beta=") for p in params):
        return query
    return "&".join([*params, "beta=true"])


class ClaudeOfficialAdapter(ClaudeConsoleAdapter):

    def __init__(self, client: httpx.AsyncClient, base_url: str, tokens: TokenManager) -> None:
        super().__init__(client, base_url)
        self._tokens = tokens

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        call = replace(call, headers=with_oauth_beta(call.headers), query=with_beta_query(call.path, call.query))
        # Only the access token goes near a request (the flow puts it on), never the refresh token.
        try:
            return await self.forward(account, call, [], OAuthBearer(self._tokens, account, credentials))
        except TokenError as exc:
            return error_answer(ANTHROPIC, exc.status, exc.message)
