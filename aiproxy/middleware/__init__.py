"""Pure-ASGI middleware around the proxy routes, outermost first:

HeadLimit -> ErrorShield -> KeyAuth -> Permission -> Quota -> Usage -> routes.

Each reads what the one before it put on `scope["state"]` and answers errors
in the caller's API shape (the `Dialect` it is built with).
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
