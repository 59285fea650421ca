"""CCR accounts: an Anthropic-compatible relay (Claude Code Router and the like) at its own base URL.

It speaks the Messages API like Claude Console, so this is that adapter with
two differences: the base URL is the account's own (there is no default), and
the key goes both as `x-api-key` and as `Authorization: Bearer`, since such
relays differ in which one they read.

Requests reach these accounts only when the client names the model
`ccr,<model>` (see scheduler/model_prefix.py); the relay strips the prefix
before the body is forwarded.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..formats.dialect import ANTHROPIC
from ..stores.entities import Account
from .base import UpstreamCall
from .claude_console import ClaudeConsoleAdapter
from .upstream import error_answer


class CcrAdapter(ClaudeConsoleAdapter):

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client, "")

    def auth_headers(self, credentials: dict[str, Any]) -> list[tuple[bytes, bytes]]:
        key = str(credentials.get("api_key", "")).encode()
        return [(b"x-api-key", key), (b"authorization", b"Bearer " + key)]

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        if not account.base_url:
            # The admin API refuses such an account; one written to the store directly ends here.
            return error_answer(ANTHROPIC, 502, f"ccr account {account.id} has no base_url")
        return await super().send(account, credentials, call)
