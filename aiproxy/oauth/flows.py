"""Pending OAuth logins: start one (an authorize URL to open), finish it (the code pasted back).

A started login is kept in the shared state for a few minutes (the OAuth
session TTL), so any instance on the same Redis can finish it, whichever
one the admin's next request reaches; on a gateway without Redis it stays
in this process's memory, as before. What is kept is sealed with the
gateway's credential cipher: the PKCE verifier never reaches the browser
and never lies in Redis in the clear. Its entry is named by a hash of the
session id, so what Redis holds does not even name the session.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from ..security.cipher import CredentialCipher, CredentialsError
from ..state.memory import MemoryState
from .exchange import credentials_from_answer, not_configured, token_request
from .pkce import new_pkce, new_state
from .providers import OAuthProvider


class PendingLogins(Protocol):
    """Where started logins wait for their code: the SharedState's part for it."""

    async def keep_login(self, login_id: str, sealed: str, ttl_seconds: float) -> bool: ...
    async def pending_login(self, login_id: str) -> str | None: ...
    async def drop_login(self, login_id: str) -> None: ...


class FlowError(Exception):
    """The login cannot be finished as asked: unknown or expired session, wrong state, no code."""


@dataclass(frozen=True)
class Authorization:
    """What the admin gets to start a login."""

    session_id: str
    authorize_url: str
    expires_in: int  # seconds left to finish it


@dataclass(frozen=True)
class _Pending:
    provider: OAuthProvider
    verifier: str
    state: str


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


def _login_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class OAuthFlows:
    """Started logins are kept in `logins` (the gateway's shared state; by
    default this process's memory), sealed with `cipher` (the gateway's; by
    default a key of this object's own, which only this process can open)."""

    def __init__(
        self,
        providers: Mapping[str, OAuthProvider],
        client: httpx.AsyncClient,
        *,
        logins: PendingLogins | None = None,
        cipher: CredentialCipher | None = None,
        ttl: float = 600.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._providers = providers
        self._client = client
        self._logins: PendingLogins = logins if logins is not None else MemoryState()
        self._cipher = cipher or CredentialCipher(CredentialCipher.generate_key())
        self._ttl = ttl
        self._wall_clock = wall_clock  # for expires_at, which is stored

    def provider(self, account_type: str) -> OAuthProvider | None:
        return self._providers.get(account_type)

    async def start(self, account_type: str) -> Authorization:
        provider = self._providers.get(account_type)
        if provider is None:
            raise FlowError(f"account type {account_type!r} has no OAuth login")
        if provider.missing_settings:
            raise FlowError(not_configured(provider))
        pkce, state = new_pkce(), new_state()
        session_id = secrets.token_urlsafe(24)
        sealed = self._cipher.encrypt({"type": account_type, "verifier": pkce.verifier, "state": state})
        if not await self._logins.keep_login(_login_id(session_id), sealed, self._ttl):
            raise FlowError("too many logins pending; finish or let some expire first")
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
        login_id = _login_id(session_id)
        pending = self._opened(await self._logins.pending_login(login_id))
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
            "code_verifier": pending.verifier,
        }
        if provider.state_in_token_request:
            fields["state"] = pending.state
        answer = await token_request(self._client, provider, fields)
        await self._logins.drop_login(login_id)
        return credentials_from_answer(answer, self._wall_clock(), provider=provider)

    def _opened(self, sealed: str | None) -> _Pending:
        if sealed is None:
            raise FlowError("unknown or expired OAuth session; start the login again")
        try:
            login = self._cipher.decrypt(sealed)
        except CredentialsError:
            raise FlowError(
                "this OAuth session was started by a gateway with another encryption key; start the login again"
            ) from None
        provider = self._providers.get(login.get("type", ""))
        verifier, state = login.get("verifier"), login.get("state")
        if provider is None or not isinstance(verifier, str) or not isinstance(state, str):
            # Started by an instance that knows a type this one does not (a rolling upgrade).
            raise FlowError("this OAuth session cannot be finished here; start the login again")
        return _Pending(provider, verifier, state)
