"""Model lists narrowed to what the caller's key may use.

A key with a `models` list sees, in `GET models`, only the models it may call
(the same exact-or-wildcard rule as the permission check, `model_allowed`);
a key without one sees the upstream's list as it came. Per format: Anthropic
and OpenAI list `data[].id`, Gemini lists `models[].name` ("models/gemini-2.5-flash").
Bodies that are not such a list pass unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

from ..key_models import model_allowed
from ..stores.entities import ApiKey

KeyBodyRewrite = Callable[[bytes, ApiKey], bytes]


def _filtered(body: bytes, key: ApiKey, field: str, id_field: str, prefix: str = "") -> dict[str, Any] | None:
    """The list answer with only the key's models, or None when there is nothing to change."""
    if not key.models:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get(field), list):
        return None

    def allowed(entry: Any) -> bool:
        name = entry.get(id_field) if isinstance(entry, dict) else None
        return isinstance(name, str) and model_allowed(key, name.removeprefix(prefix))

    data[field] = [entry for entry in data[field] if allowed(entry)]
    return data


def anthropic_models_for_key(body: bytes, key: ApiKey) -> bytes:
    data = _filtered(body, key, "data", "id")
    if data is None:
        return body
    if "first_id" in data:
        data["first_id"] = data["data"][0]["id"] if data["data"] else None
    if "last_id" in data:
        data["last_id"] = data["data"][-1]["id"] if data["data"] else None
    return orjson.dumps(data)


def openai_models_for_key(body: bytes, key: ApiKey) -> bytes:
    data = _filtered(body, key, "data", "id")
    return body if data is None else orjson.dumps(data)


def gemini_models_for_key(body: bytes, key: ApiKey) -> bytes:
    data = _filtered(body, key, "models", "name", prefix="models/")
    return body if data is None else orjson.dumps(data)
