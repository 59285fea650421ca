"""Reading and checking request bodies and query parameters.

Every failure is a 400 whose message starts with the field's name, so the
console can put it next to the right input. JSON types are taken strictly:
`true` is a bool, `1` is not; `50` is an int, `"50"` and `50.0` are not.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Iterable
from urllib.parse import urlsplit

from starlette.requests import Request

from ..jsonbody import JSONBodyError, parse_json_body
from ..security.passwords import MIN_PASSWORD_LENGTH
from ..timestamps import to_naive_utc
from .errors import ApiError

# The admin API takes small JSON objects; anything bigger is a mistake or abuse
# (login answers unauthenticated callers, so it must not buffer unbounded bodies).
MAX_BODY_BYTES = 1024 * 1024

# Hashing is deliberately slow; a cap keeps a huge "password" from costing more.
MAX_PASSWORD_LENGTH = 1024

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "validation_error", f"{field}: {message}")


async def read_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413 error."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large", f"request body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        # The gateway's one parser (aiproxy/jsonbody): depth-capped, strict
        # (no NaN, no lone surrogates, 64-bit integers), never a RecursionError.
        body = parse_json_body(raw)
    except JSONBodyError as exc:
        raise ApiError(400, "invalid_json", str(exc)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    return body


def require(body: dict[str, Any], field: str) -> Any:
    if field not in body:
        raise invalid(field, "is required")
    return body[field]


def as_str(value: Any, field: str, *, max_length: int = 200) -> str:
    """A non-empty string without surrounding whitespace (which is stripped)."""
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    text = value.strip()
    if not text:
        raise invalid(field, "must not be empty")
    if len(text) > max_length:
        raise invalid(field, f"must be at most {max_length} characters")
    return text


def as_password(value: Any, field: str) -> str:
    """A new password: kept exactly as typed (no stripping), long enough."""
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if len(value) < MIN_PASSWORD_LENGTH:
        raise invalid(field, f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise invalid(field, f"must be at most {MAX_PASSWORD_LENGTH} characters")
    return value


def as_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(field, "must be true or false")
    return value


# A stored integer is a signed 64-bit column at most (MySQL BIGINT, SQLite
# INTEGER): anything beyond would fail in the store as a 500.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def as_int(value: Any, field: str) -> int:
    # bool is an int subclass in Python; `true` is not a priority.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, "must be an integer")
    if not INT64_MIN <= value <= INT64_MAX:
        raise invalid(field, "is out of range")
    return value


def as_int_between(value: Any, field: str, low: int, high: int) -> int:
    number = as_int(value, field)
    if not low <= number <= high:
        raise invalid(field, f"must be between {low} and {high}")
    return number


def as_optional_limit(value: Any, field: str, *, integer: bool) -> int | float | None:
    """A quota: null (no limit), or a number >= 0 (an integer if `integer`)."""
    if value is None:
        return None
    if integer:
        number: int | float = as_int(value, field)
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
        float("inf"), float("-inf")
    ):
        raise invalid(field, "must be null or a number")
    else:
        number = float(value)
    if number < 0:
        raise invalid(field, "must be null or at least 0")
    return number


GROUP_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def as_group(value: Any, field: str) -> str | None:
    """An account group's name (1-64 of A-Z a-z 0-9 . _ -, taken as sent), or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not GROUP_NAME.match(value):
        raise invalid(field, "must be null or 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")
    return value


def as_choice(value: Any, field: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise invalid(field, f"must be one of {', '.join(options) or '(none available)'}")
    return value


def as_str_list(value: Any, field: str, *, choices: Iterable[str] | None = None) -> list[str]:
    """A list of non-empty strings, stripped, duplicates dropped, order kept."""
    if not isinstance(value, list):
        raise invalid(field, "must be a list of strings")
    options = tuple(choices) if choices is not None else None
    result: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise invalid(field, "must be a list of non-empty strings")
        item = item.strip()
        if options is not None and item not in options:
            raise invalid(field, f"{item!r} is not one of {', '.join(options)}")
        if item not in result:
            result.append(item)
    return result


def as_str_map(value: Any, field: str) -> dict[str, str]:
    """An object of non-empty strings to non-empty strings, both stripped, order kept."""
    if not isinstance(value, dict):
        raise invalid(field, "must be an object of strings to strings")
    result: dict[str, str] = {}
    for key, item in value.items():
        name = key.strip()  # JSON object keys are always strings
        if not name:
            raise invalid(field, "keys must be non-empty strings")
        if not isinstance(item, str) or not item.strip():
            raise invalid(field, f"{name!r} must map to a non-empty string")
        if name in result:
            raise invalid(field, f"{name!r} is given twice")
        result[name] = item.strip()
    return result


def as_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(field, "must be an object")
    return dict(value)


def as_url(value: Any, field: str, schemes: tuple[str, ...], what: str) -> str | None:
    """A URL with one of `schemes` and a host, or None. `what` names the schemes
    in the error message."""
    if value is None:
        return None
    message = f"must be an {what} URL or null"
    if not isinstance(value, str) or not value.strip():
        raise invalid(field, message)
    url = value.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise invalid(field, message) from None
    if parts.scheme not in schemes or not parts.hostname:
        raise invalid(field, message)
    return url


def as_http_url(value: Any, field: str) -> str | None:
    """An http(s) URL with a host, or None."""
    return as_url(value, field, ("http", "https"), "http(s)")


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def as_proxy_url(value: Any, field: str) -> str | None:
    """An outbound proxy: an http, https, socks5 or socks5h URL with a host, or None."""
    return as_url(value, field, PROXY_SCHEMES, "http, https, socks5 or socks5h")


# The moments the API takes: far enough either way for any real use, and far
# enough from datetime's own limits (years 1 and 9999) that the windows and
# buckets computed from them (a day later, 30 days earlier) stay datetimes.
EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(9000, 1, 1)


def parse_moment(value: Any, field: str) -> tuple[datetime, bool]:
    """An ISO 8601 date or datetime as naive UTC, and whether it was a bare date."""
    if not isinstance(value, str) or not value.strip():
        raise invalid(field, "must be an ISO 8601 date or datetime")
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            d = date.fromisoformat(text)
            moment, bare = datetime(d.year, d.month, d.day), True
        else:
            # Python 3.10's fromisoformat does not take a trailing "Z".
            if text[-1] in "zZ":
                text = text[:-1] + "+00:00"
            moment, bare = to_naive_utc(datetime.fromisoformat(text)), False
    except (ValueError, OverflowError):  # OverflowError: year 1 in a zone east of UTC
        raise invalid(field, "must be an ISO 8601 date or datetime") from None
    if not EARLIEST <= moment < LATEST:
        raise invalid(field, f"must be from {EARLIEST.date()} to before {LATEST.date()}")
    return moment, bare


def as_optional_datetime(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    moment, _ = parse_moment(value, field)
    return moment


def query_int(request: Request, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, "must be an integer") from None
    if not INT64_MIN <= value <= INT64_MAX:
        raise invalid(name, "is out of range")
    if minimum is not None and value < minimum:
        raise invalid(name, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise invalid(name, f"must be at most {maximum}")
    return value


def query_bool(request: Request, name: str) -> bool | None:
    """`true` or `false` (absent or empty: None); anything else is a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise invalid(name, "must be true or false")
    return raw == "true"


def query_moment(request: Request, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A date or datetime query parameter; with end_of_day, a bare date means
    the midnight after it, so that `end=2026-01-31` includes the 31st."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    moment, bare_date = parse_moment(raw, name)
    if bare_date and end_of_day:
        moment += timedelta(days=1)
    return moment


def path_id(request: Request, name: str = "id") -> int:
    # Routes use the {id:int} convertor, so this is already an int, of any
    # size: one no store can hold names nothing (a SQL driver would overflow).
    ident = int(request.path_params[name])
    if not 1 <= ident <= INT64_MAX:
        raise ApiError(404, "not_found", f"no {name} {ident}")
    return ident
