"""Checking OAuth tokens pasted by an admin as an account's credentials.

Accepts our own shape `{access_token, refresh_token?, expires_at?}` and the
one Claude Code keeps in ~/.claude/.credentials.json (`claudeAiOauth`:
accessToken, refreshToken, expiresAt in milliseconds), so the file's content
can be pasted as it is.
"""

from __future__ import annotations

from typing import Any

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
