"""The middleware in front of each platform's routes, declared as a list of layers.

A layer is a factory `(app, gateway, place) -> app`: it wraps `app` in one
middleware, configured from the gateway's parts and the place it guards (the
platform, and the API shape of the answers the gateway itself gives there).
`MIDDLEWARE` lists the gateway's own, outermost first; `compose` builds a
stack from such a list. A host replaces or extends the list
(`create_app(..., middleware=[*MIDDLEWARE, my_layer])`) without forking.
Stacks are built once, at app build: a layer adds nothing per request but
its middleware's own work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from starlette.types import ASGIApp

from .formats.dialect import Dialect
from .middleware import (
    ErrorShieldMiddleware,
    HeadLimitMiddleware,
    KeyAuthMiddleware,
    PermissionMiddleware,
    QuotaMiddleware,
    UsageMiddleware,
)

if TYPE_CHECKING:
    from .gateway import Gateway


@dataclass(frozen=True)
class Place:
    """Where a stack stands: the platform whose routes it guards, and the API shape of its own answers.

    `platform` is empty for `GET /api/usage`, which serves no platform.
    """

    platform: str
    dialect: Dialect
    # The other account platforms its routes may reach through a translator
    # (a key's `platforms` may name any of them: the permission check).
    reaches: frozenset[str] = frozenset()


Layer = Callable[[ASGIApp, "Gateway", Place], ASGIApp]


def head_limit(app: ASGIApp, gateway: Gateway, place: Place) -> ASGIApp:
    # Outermost: a head over the bounds is refused before anything reads its headers.
    settings = gateway.settings
    return HeadLimitMiddleware(
        app, dialect=place.dialect, max_count=settings.max_header_count, max_bytes=settings.max_header_bytes
    )


def error_shield(app: ASGIApp, gateway: Gateway, place: Place) -> ASGIApp:
    return ErrorShieldMiddleware(app, dialect=place.dialect)


def key_auth(app: ASGIApp, gateway: Gateway, place: Place) -> ASGIApp:
    return KeyAuthMiddleware(app, lookup=gateway.keys.lookup, dialect=place.dialect)


def permission(app: ASGIApp, gateway: Gateway, place: Place) -> ASGIApp:
    return PermissionMiddleware(
        app, platform=place.platform, dialect=place.dialect, max_request_bytes=gateway.settings.max_request_bytes,
        reaches=place.reaches,
    )


def quota(app: ASGIApp, gateway: Gateway, place: Place) -> ASGIApp:
    # Outside the usage middleware, so it sees each request's finished record.
    return QuotaMiddleware(
        app,
        dialect=place.dialect,
        state=gateway.state,
        quota_state=gateway.quota_state,
        slot_lease=gateway.slot_lease,
        first_use=gateway.first_use.first_use,
    )


def usage(app: ASGIApp, gateway: Gateway, place: Place) -> ASGIApp:
    # Innermost: right around the routes, metering what they relay.
    return UsageMiddleware(app, platform=place.platform, sink=gateway.record_usage, price=gateway.prices.cost)


# The proxied routes' stack, outermost first.
MIDDLEWARE: tuple[Layer, ...] = (head_limit, error_shield, key_auth, permission, quota, usage)

# GET /api/usage: asked with the key itself, but no permission, quota or usage record.
KEY_USAGE_MIDDLEWARE: tuple[Layer, ...] = (head_limit, error_shield, key_auth)


def compose(app: ASGIApp, layers: Sequence[Layer], gateway: Gateway, place: Place) -> ASGIApp:
    """`app` wrapped in `layers`, the first outermost."""
    for layer in reversed(layers):
        app = layer(app, gateway, place)
    return app
