"""Pending OAuth logins: start one (an authorize URL to open), finish it (the code pasted back).

Pending authorizations live in this process's memory for a few minutes: the
PKCE verifier must never leave the server, and a login started on one
instance must be finished on the same one (sticky admin sessions, or a single
admin instance). A shared store for them is a possible follow-up.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from .exchange import credentials_from_answer, not_configured, token_request
from .pkce import Pkce, new_pkce, new_state
from .providers import OAuthProvider

# Pending logins beyond this are refused: each holds a verifier in memory.
MAX_PENDING = 1000


class FlowError(Exception):
    """The login cannot be finished as asked: unknown or expired session, wrong state, no code."""


@dataclass(frozen=True)
class Authorization:
    """What the admin gets to start a login."""

    session_id: str
    authorize_url: str
    expires_in: int  # seconds left to finish it


@dataclass
class _Pending:
    provider: OAuthProvider
    pkce: Pkce
    state: str
    deadline: float  # on the monotonic clock


def parse_code(pasted: str) -> tuple[str, str | None]:
    """The code and state (if given) from what the user pasted: the bare code,
    Claude's `code#state`, or the whole callback URL (`...?code=...&state=...`)."""
    text = pasted.strip()
    if text.startswith(("http://", "https://")):
        parts = urlsplit(text)
        query = parse_qs(parts.query) or parse_qs(parts.fragment)
        if "error" in query:
            detail = query.get("error_description", [""])[0]
            raise FlowError(f"the provider refused the login: {query['error'][0]}{': ' + detail if detail else ''}")
        code = query.get("code", [""])[0]
        if not code:
            raise FlowError("the callback URL has no code parameter")
        states = query.get("state")
        state = states[0] if states else None
        # Claude's callback may also carry `code#state` in the code itself.
        if "#" in code:
            code, state = code.split("#", 1)
        return code, state
    code, _, state = text.partition("#")
    if not code:
        raise FlowError("no authorization code given")
    return code, state or None


class OAuthFlows:
    def __init__(
        self,
        providers: Mapping[str, OAuthProvider],
        client: httpx.AsyncClient,
        *,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._providers = providers
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._wall_clock = wall_clock  # for expires_at, which is stored
        self._pending: dict[str, _Pending] = {}

    def provider(self, account_type: str) -> OAuthProvider | None:
        return self._providers.get(account_type)

    def start(self, account_type: str) -> Authorization:
        provider = self._providers.get(account_type)
        if provider is None:
            raise FlowError(f"account type {account_type!r} has no OAuth login")
        if provider.missing_settings:
            raise FlowError(not_configured(provider))
        self._drop_expired()
        if len(self._pending) >= MAX_PENDING:
            raise FlowError("too many logins pending; finish or let some expire first")
        pkce, state = new_pkce(), new_state()
        session_id = secrets.token_urlsafe(24)
        self._pending[session_id] = _Pending(provider, pkce, state, self._clock() + self._ttl)
        params = {
            **provider.authorize_params,
            "client_id": provider.client_id,
            "response_type": "code",
            "redirect_uri": provider.redirect_uri,
            "scope": provider.scope,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
            "state": state,
        }
        separator = "&" if "?" in provider.authorize_url else "?"
        url = provider.authorize_url + separator + urlencode(params)
        return Authorization(session_id=session_id, authorize_url=url, expires_in=int(self._ttl))

    async def finish(self, session_id: str, pasted: str, *, account_type: str | None = None) -> dict[str, Any]:
        """Exchange the pasted code for tokens: the credentials to store.

        Raises FlowError for a bad session or state, and exchange.OAuthError
        (InvalidGrant for a refused code) when the provider says no. The
        session is used up only by a successful exchange, so a mistyped code
        can be pasted again.
        """
        self._drop_expired()
        pending = self._pending.get(session_id)
        if pending is None:
            raise FlowError("unknown or expired OAuth session; start the login again")
        if account_type is not None and pending.provider.account_type != account_type:
            raise FlowError(f"this OAuth session was started for {pending.provider.account_type}, not {account_type}")
        code, state = parse_code(pasted)
        # A bare code (no state) is accepted: PKCE already ties it to this
        # session's verifier. A state that is given must be ours.
        if state is not None and not secrets.compare_digest(state, pending.state):
            raise FlowError("state does not match this OAuth session (a code from another login?)")
        provider = pending.provider
        fields = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": provider.redirect_uri,
            "code_verifier": pending.pkce.verifier,
        }
        if provider.state_in_token_request:
            fields["state"] = pending.state
        answer = await token_request(self._client, provider, fields)
        self._pending.pop(session_id, None)
        return credentials_from_answer(answer, self._wall_clock(), provider=provider)

    def _drop_expired(self) -> None:
        now = self._clock()
        for session_id in [s for s, p in self._pending.items() if p.deadline <= now]:
            del self._pending[session_id]
