"""What one proxied request carries between the layers: one typed object under one `scope["state"]` key.

The layers fill it in as the request travels inward, outermost first:

- key auth: `key`, the caller's ApiKey (read by permission, quota, usage, the
  relay's account bindings and the routes: model lists, GET /api/usage);
- permission or the relay, whoever needs the body first: `inbound`, the body
  read once and parsed once (`inbound.read_inbound`);
- the usage middleware: `meter`, which the relay fills in (account, model,
  tokens), and at the end `record`, the finished UsageRecord, which the quota
  middleware outside it counts against the key's budgets.

Each layer reads what an outer one left, through `context(scope)`, never
another layer's module: this module is below all of them and imports none of
them (their types only for checking), so no middleware imports one that wraps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.types import Scope

if TYPE_CHECKING:
    from .inbound import InboundRequest
    from .stores.entities import ApiKey, UsageRecord
    from .usage.meter import UsageMeter

# The one key of ours on scope["state"]; the rest of the dict is the server's and Starlette's.
STATE_KEY = "aiproxy"


@dataclass(slots=True)
class RequestContext:
    key: ApiKey | None = None
    inbound: InboundRequest | None = None
    meter: UsageMeter | None = None
    record: UsageRecord | None = None


def context(scope: Scope) -> RequestContext:
    """The request's context, made (and `scope["state"]` with it) by the first layer that asks."""
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    ctx = state.get(STATE_KEY)
    if ctx is None:
        ctx = state[STATE_KEY] = RequestContext()
    return ctx


def api_key(scope: Scope) -> ApiKey:
    """The caller's key, for the layers inside key auth (a wiring mistake if it is missing)."""
    key = context(scope).key
    if key is None:
        raise LookupError("no API key on this request: KeyAuthMiddleware must wrap this layer")
    return key
