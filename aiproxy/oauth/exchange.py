"""One request to a provider's token endpoint, and its answer as stored credentials.

Used for both grants: `authorization_code` (finishing a login) and
`refresh_token` (keeping an account's access token fresh).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt

from .providers import OAuthProvider

# Token endpoints answer quickly; the shared client's read timeout is sized for
# long generations, far too long to hold a request that waits on a refresh.
TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# What a token answer may carry besides the tokens that is worth keeping:
# Claude names the organization and account, OpenAI gives an id token whose
# claims carry the ChatGPT account id.
_KEPT_FIELDS = ("token_type", "id_token", "organization", "account")


class OAuthError(Exception):
    """A token request failed: the provider was unreachable, or answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class InvalidGrant(OAuthError):
    """The provider rejected the code or refresh token: only a new login will do."""


def _error_fields(response: httpx.Response) -> tuple[str | None, str]:
    # RFC 6749 §5.2: {"error": "...", "error_description": "..."}; some
    # providers nest it as {"error": {"type"/"message"}} instead.
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return None, response.text[:200]
    if not isinstance(data, dict):
        return None, response.text[:200]
    error = data.get("error")
    if isinstance(error, dict):
        return (str(error.get("type")) if error.get("type") else None), str(error.get("message") or "")
    return (str(error) if error else None), str(data.get("error_description") or "")


def not_configured(provider: OAuthProvider) -> str:
    """Why `provider` cannot be used yet: the settings to set."""
    return f"{provider.name} OAuth is not configured: set {', '.join(provider.missing_settings)}"


async def token_request(client: httpx.AsyncClient, provider: OAuthProvider, fields: dict[str, str]) -> dict[str, Any]:
    """POST `fields` (plus the client id) to the token endpoint; its JSON answer."""
    if provider.missing_settings:
        raise OAuthError(not_configured(provider))
    body = {**fields, "client_id": provider.client_id}
    if provider.client_secret:
        body["client_secret"] = provider.client_secret
    encoding = provider.token_encoding
    if fields.get("grant_type") == "refresh_token":
        body = {**body, **provider.refresh_params}
        encoding = provider.refresh_encoding or encoding
    headers = {"accept": "application/json"}
    try:
        if encoding == "json":
            response = await client.post(provider.token_url, json=body, headers=headers, timeout=TOKEN_TIMEOUT)
        else:
            response = await client.post(provider.token_url, data=body, headers=headers, timeout=TOKEN_TIMEOUT)
    except httpx.HTTPError as exc:
        raise OAuthError(f"{provider.name} token endpoint unreachable: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        error, description = _error_fields(response)
        message = f"{provider.name} token endpoint answered {response.status_code}"
        if error or description:
            message += f": {error or ''}{' - ' if error and description else ''}{description}"
        # 400 invalid_grant is RFC 6749's answer to a used, revoked or expired
        # code or refresh token; a bare 401 means the same in practice.
        if error == "invalid_grant" or response.status_code == 401:
            raise InvalidGrant(message, status=response.status_code, error=error)
        raise OAuthError(message, status=response.status_code, error=error)
    try:
        answer = response.json()
    except (ValueError, json.JSONDecodeError):
        raise OAuthError(f"{provider.name} token endpoint answered something that is not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str) or not answer["access_token"]:
        raise OAuthError(f"{provider.name} token endpoint answered without an access token")
    return answer


def unverified_claims(token: Any) -> dict[str, Any]:
    """The payload of a JWT, read without checking its signature; {} if it is not one.

    Only for tokens that came straight from the provider's token endpoint over
    TLS (or were pasted by an admin from such an answer): we are their
    recipient, not a server that must trust a token a client shows it, so
    there is nothing a signature check would protect here, and the provider's
    signing keys would be one more thing to fetch and keep.
    """
    if not isinstance(token, str) or token.count(".") != 2:
        return {}
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def claims_facts(provider: OAuthProvider | None, id_token: Any) -> dict[str, Any]:
    """The facts `provider.id_token_claims` names, from an id token's claims."""
    if provider is None or not provider.id_token_claims:
        return {}
    claims = unverified_claims(id_token)
    facts: dict[str, Any] = {}
    for name, path in provider.id_token_claims.items():
        value: Any = claims
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            facts[name] = value
    return facts


def credentials_from_answer(
    answer: dict[str, Any], now: float, previous: dict[str, Any] | None = None,
    *, provider: OAuthProvider | None = None,
) -> dict[str, Any]:
    """The credentials to store: access_token, refresh_token, expires_at (epoch
    seconds) and the useful extras. A refresh answer updates `previous`: a
    provider that does not rotate refresh tokens (Google) keeps the old one, and
    facts only the login answer gave (organization, account) are kept. Facts
    from the id token (`provider.id_token_claims`) follow each new id token."""
    credentials = dict(previous or {})
    credentials.pop("expires_at", None)  # never keep a stale expiry
    credentials["access_token"] = answer["access_token"]
    if isinstance(answer.get("refresh_token"), str) and answer["refresh_token"]:
        credentials["refresh_token"] = answer["refresh_token"]
    expires_in = answer.get("expires_in")
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
        credentials["expires_at"] = int(now + expires_in)
    if isinstance(answer.get("scope"), str):
        credentials["scopes"] = answer["scope"].split()
    for name in _KEPT_FIELDS:
        if answer.get(name) is not None:
            credentials[name] = answer[name]
    credentials.update(claims_facts(provider, answer.get("id_token")))
    return credentials
