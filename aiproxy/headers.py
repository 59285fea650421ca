"""Which headers cross the gateway, in each direction."""

from __future__ import annotations

from typing import Iterable

# Hop-by-hop headers (RFC 9110 §7.6.1) and ones the HTTP layer recomputes.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"host",
    }
)

# Never sent upstream: the client's credentials for the gateway, its cookies,
# where it connects from, and its encoding wishes (we ask for identity so the
# bytes we parse for usage are the bytes we relay).
_REQUEST_DROP = _HOP_BY_HOP | {
    b"authorization",
    b"x-api-key",
    b"x-goog-api-key",
    b"api-key",
    b"cookie",
    b"accept-encoding",
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-real-ip",
}

# Never sent back: the upstream's cookies, and content-encoding because the
# body is relayed decoded.
_RESPONSE_DROP = _HOP_BY_HOP | {b"set-cookie", b"content-encoding"}


def upstream_request_headers(client_headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in client_headers if k.lower() not in _REQUEST_DROP]


def client_response_headers(upstream_headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower(), v) for k, v in upstream_headers if k.lower() not in _RESPONSE_DROP]
