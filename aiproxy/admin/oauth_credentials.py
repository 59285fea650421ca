"""Checking OAuth tokens pasted by an admin as an account's credentials.

Accepts our own shape `{access_token, refresh_token?, expires_at?}` and the
one Claude Code keeps in ~/.claude/.credentials.json (`claudeAiOauth`:
accessToken, refreshToken, expiresAt in milliseconds), so the file's content
can be pasted as it is.
"""

from __future__ import annotations

from typing import Any

from ..oauth.exchange import unverified_claims
from ..oauth.providers import OPENAI_AUTH_CLAIM
from .validation import invalid

# Epoch values above this are milliseconds (this many seconds is the year 5138).
_MILLISECONDS_FROM = 10**11


def check_oauth_tokens(credentials: dict[str, Any]) -> dict[str, Any]:
    if isinstance(credentials.get("claudeAiOauth"), dict):
        credentials = credentials["claudeAiOauth"]
    checked = {k: v for k, v in credentials.items() if k not in ("accessToken", "refreshToken", "expiresAt")}
    access = credentials.get("access_token", credentials.get("accessToken"))
    if not isinstance(access, str) or not access.strip():
        raise invalid("credentials.access_token", "must be a non-empty string")
    checked["access_token"] = access.strip()  # a pasted newline would break the header
    refresh = credentials.get("refresh_token", credentials.get("refreshToken"))
    if refresh is None:
        checked.pop("refresh_token", None)
    elif not isinstance(refresh, str) or not refresh.strip():
        raise invalid("credentials.refresh_token", "must be a non-empty string or absent")
    else:
        checked["refresh_token"] = refresh.strip()
    expires_at = credentials.get("expires_at", credentials.get("expiresAt"))
    if expires_at is None:
        checked.pop("expires_at", None)  # unknown: used until the upstream refuses it
    elif isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)) or expires_at <= 0:
        raise invalid("credentials.expires_at", "must be a positive number of epoch seconds or absent")
    else:
        checked["expires_at"] = int(expires_at / 1000 if expires_at >= _MILLISECONDS_FROM else expires_at)
    return checked


def check_openai_responses(credentials: dict[str, Any]) -> dict[str, Any]:
    """An `openai-responses` account's credentials: an API key (`{api_key}`), or
    ChatGPT OAuth tokens, ours or Codex CLI's ~/.codex/auth.json pasted as it is
    (`{"OPENAI_API_KEY", "tokens": {id_token, access_token, refresh_token,
    account_id}, "last_refresh"}`).

    The ChatGPT account id is taken from the id token when not given, and a
    missing expiry from the access token's `exp` (both JWTs from OpenAI).
    """
    tokens = credentials.get("tokens")
    if isinstance(tokens, dict):
        credentials = {
            k: v for k, v in {
                "access_token": tokens.get("access_token"),
                "refresh_token": tokens.get("refresh_token"),
                "id_token": tokens.get("id_token"),
                "chatgpt_account_id": tokens.get("account_id"),
            }.items() if v is not None
        }
    elif isinstance(credentials.get("OPENAI_API_KEY"), str) and "api_key" not in credentials:
        credentials = {"api_key": credentials["OPENAI_API_KEY"]}
    if "api_key" in credentials:
        api_key = credentials.get("api_key")
        if not isinstance(api_key, str) or not api_key.strip():
            raise invalid("credentials.api_key", "must be a non-empty string")
        return {**credentials, "api_key": api_key.strip()}
    checked = check_oauth_tokens(credentials)
    id_token = checked.get("id_token")
    if id_token is not None and not isinstance(id_token, str):
        raise invalid("credentials.id_token", "must be a string (the JWT) or absent")
    if not checked.get("chatgpt_account_id"):
        auth = unverified_claims(id_token).get(OPENAI_AUTH_CLAIM)
        if isinstance(auth, dict) and isinstance(auth.get("chatgpt_account_id"), str):
            checked["chatgpt_account_id"] = auth["chatgpt_account_id"]
    elif not isinstance(checked["chatgpt_account_id"], str):
        raise invalid("credentials.chatgpt_account_id", "must be a string or absent")
    if "expires_at" not in checked:
        exp = unverified_claims(checked["access_token"]).get("exp")
        if isinstance(exp, int) and not isinstance(exp, bool) and exp > 0:
            checked["expires_at"] = exp
    return checked


def check_gemini_oauth(credentials: dict[str, Any]) -> dict[str, Any]:
    """A `gemini-oauth` account's Google tokens: ours, or Gemini CLI's
    ~/.gemini/oauth_creds.json pasted as it is (`{access_token, refresh_token,
    expiry_date (epoch milliseconds), token_type, scope, id_token}`)."""
    credentials = dict(credentials)
    expiry_date = credentials.pop("expiry_date", None)
    if expiry_date is not None and credentials.get("expires_at", credentials.get("expiresAt")) is None:
        credentials["expires_at"] = expiry_date
    scope = credentials.pop("scope", None)
    if isinstance(scope, str) and "scopes" not in credentials:
        credentials["scopes"] = scope.split()
    return check_oauth_tokens(credentials)
