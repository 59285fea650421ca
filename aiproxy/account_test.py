"""Testing one upstream account: a single minimal request through its adapter.

The admin API's `POST /admin/api/accounts/{id}/test` calls `test_account`.
The request is the cheapest the upstream answers properly (one output token,
"ping"), sent the way the relay sends a client's request: through the
account's adapter (so its credentials, base URL, options, token refresh and
model mapping all apply) and its outbound proxy. What comes back is whether it
worked, the upstream's status, how long it took and, on failure, the
upstream's own error message; never the account's credentials.

It is not recorded as usage, and it does not touch the scheduler's view of
the account (a failed test does not park it; a passing one does not clear it:
that is what /reset is for).
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import anyio
import httpx
import orjson

from .accounts import ACCOUNT_TYPES, AccountType, AccountTypes
from .adapters.base import Adapter, UpstreamCall
from .formats.error_message import error_message
from .scheduler.pool import AccountPool
from .stores.entities import Account
from .upstream_path import UnsafePathValue
from .upstream_proxy import account_proxy

# The whole test, upstream answer included, must be over within this.
TEST_TIMEOUT_S = 60.0
# Longest upstream error message passed on.
MAX_MESSAGE_CHARS = 500

_JSON_HEADERS = [(b"content-type", b"application/json")]


def probe_model(account: Account, account_type: AccountType) -> str:
    """The model the test asks for, as clients name it (before the account's mapping):
    the account's own (its `models`, then its `model_mapping` keys), else a
    small, cheap one its type names."""
    if account.models:
        return account.models[0]
    if account.model_mapping:
        return next(iter(account.model_mapping))
    return account_type.probe_model


def probe_call(account: Account, credentials: Mapping[str, Any], types: AccountTypes = ACCOUNT_TYPES) -> UpstreamCall:
    """The minimal request of the account's type (its declared probe), as the relay would hand it to the adapter."""
    account_type = types[account.type]
    model = probe_model(account, account_type)
    upstream_model = account.model_mapping.get(model, model)
    probe = account_type.probe(upstream_model, credentials)
    return UpstreamCall(
        method="POST",
        path=probe.path,
        query="",
        headers=list(_JSON_HEADERS),
        body=orjson.dumps(probe.body),
        json=probe.body,
        model=upstream_model,
        stream=False,
    )


def _secrets(credentials: Mapping[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and len(value) >= 8:
            found.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(credentials)
    # Longest first, so a secret containing another is hidden whole.
    return sorted(set(found), key=len, reverse=True)


def _scrub(message: str, credentials: Mapping[str, Any]) -> str:
    """The message with any credential in it replaced by ***, cut to MAX_MESSAGE_CHARS."""
    for secret in _secrets(credentials):
        message = message.replace(secret, "***")
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return message


def _result(ok: bool, status: int | None, started: float, message: str) -> dict[str, Any]:
    latency_ms = int((time.monotonic() - started) * 1000)
    return {"ok": ok, "status": status, "latency_ms": latency_ms, "message": message}


async def test_account(
    pool: AccountPool, adapters: Mapping[str, Adapter], account_id: int, types: AccountTypes = ACCOUNT_TYPES
) -> dict[str, Any]:
    """Send one minimal request through the account; `{ok, status, latency_ms, message}`.

    `status` is the upstream's HTTP status (None when no answer came);
    `message` is "ok", or what went wrong (the upstream's error message).
    """
    started = time.monotonic()
    # The pool's copy: decrypted credentials, kept fresh by token refreshes.
    entry = next((a for a in pool.accounts if a.id == account_id), None)
    if entry is None:
        return _result(False, None, started, "the account is not loaded (unknown, or its credentials cannot be decrypted)")
    account, credentials = entry.account, entry.credentials
    adapter = adapters.get(account.type)
    if adapter is None or account.type not in types:
        return _result(False, None, started, f"no adapter serves account type {account.type!r}")
    try:
        call = probe_call(account, credentials, types)
        with anyio.fail_after(TEST_TIMEOUT_S), account_proxy(account.proxy):
            response = await adapter.send(account, credentials, call)
            try:
                body = await response.aread()
            finally:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
    except UnsafePathValue as exc:  # a model (mapped, or as an id or deployment) no upstream URL can carry
        return _result(False, None, started, exc.message)
    except TimeoutError:
        return _result(False, None, started, f"no answer within {TEST_TIMEOUT_S:g} seconds")
    except httpx.TimeoutException as exc:
        return _result(False, None, started, f"upstream timed out: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return _result(False, None, started, _scrub(f"upstream connection failed: {type(exc).__name__}: {exc}", credentials))
    status = response.status_code
    if status < 400:
        return _result(True, status, started, "ok")
    message = error_message(body) or body.decode("utf-8", "replace").strip() or f"HTTP {status}"
    return _result(False, status, started, _scrub(message, credentials))
test_account.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name
