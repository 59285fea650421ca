"""Pure-ASGI middleware around the proxy routes, outermost first:

HeadLimit -> ErrorShield -> KeyAuth -> Permission -> Quota -> Usage -> routes.

Each reads what an outer one left on the request's context (`aiproxy.context`,
one typed object under one `scope["state"]` key), never from the module of a
middleware that wraps it, and answers errors in the caller's API shape (the
`Dialect` it is built with).
"""

from .auth import KeyAuthMiddleware
from .errors import ErrorShieldMiddleware
from .head_limit import HeadLimitMiddleware
from .permission import PermissionMiddleware
from .quota import QuotaMiddleware
from .usage import UsageMiddleware

__all__ = [
    "ErrorShieldMiddleware",
    "HeadLimitMiddleware",
    "KeyAuthMiddleware",
    "PermissionMiddleware",
    "QuotaMiddleware",
    "UsageMiddleware",
]
