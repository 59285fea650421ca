"""What every adapter does the same way: build the upstream URL, send, answer an error in the client's API."""

from __future__ import annotations

import httpx

from ..formats.dialect import Dialect

# Identity, so the bytes the relay passes on untouched and its usage taps parse
# are the bytes the upstream framed, never a compressed body (which httpx would
# decode on the way, so the bytes relayed would no longer match their headers).
_IDENTITY = (b"accept-encoding", b"identity")

_JSON = {"content-type": "application/json"}

# Headers of an upstream answer that no longer describe a body the adapter made anew.
_BODY_HEADERS = frozenset({b"content-type", b"content-length", b"content-encoding", b"transfer-encoding"})


def url(base: str, path: str, *queries: str) -> str:
    """`base` (a trailing slash forgiven) + `path`, with the non-empty `queries` joined by `&`."""
    query = queries[0] if len(queries) == 1 else "&".join(filter(None, queries))
    return base.rstrip("/") + path + ("?" + query if query else "")


async def send(
    client: httpx.AsyncClient,
    method: str,
    target: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """Send one request upstream and return the response unread (`stream=True`: the caller closes it).

    `headers` is the list the adapter built for this request; the identity
    accept-encoding is appended to it (no copy on the proxied path). `auth`
    is a flow that sets the credentials itself (bearer.OAuthBearer); without
    one the client's own default applies, as for any send.
    """
    headers.append(_IDENTITY)
    request = client.build_request(method, target, headers=headers, content=body or None)
    if auth is None:
        return await client.send(request, stream=True)
    return await client.send(request, stream=True, auth=auth)


async def read(response: httpx.Response) -> bytes:
    """`response`'s whole body; the response is closed however the read ends."""
    try:
        return await response.aread()
    finally:
        await response.aclose()


def headers_for(response: httpx.Response, content_type: bytes) -> list[tuple[bytes, bytes]]:
    """`response`'s headers for a body made from its own (unwrapped, collected), of `content_type`."""
    kept = [(k, v) for k, v in response.headers.raw if k.lower() not in _BODY_HEADERS]
    kept.append((b"content-type", content_type))
    return kept


def error_answer(dialect: Dialect, status: int, message: str) -> httpx.Response:
    """The gateway's own error, answered as if from the upstream in `dialect`'s shape,
    so the relay passes it on (and records it) like any upstream error."""
    return httpx.Response(status, content=dialect.error_body(status, message), headers=_JSON)
