"""Model lists narrowed to what the caller's key may use.

A key with a `models` list sees, in `GET models`, only the models it may call
(the same exact-or-wildcard rule as the permission check, `model_allowed`);
a key without one sees the upstream's list as it came. Per format: Anthropic
and OpenAI list `data[].id`, Gemini lists `models[].name` ("models/gemini-2.5-flash").
Bodies that are not such a list pass unchanged.

A route whose clients are also served through a translator adds the models
those accounts serve the key (`Relay.reachable_models`, already narrowed) to
its upstream's list, or answers them alone when no account of its own
platform is in reach: `anthropic_models_merged` for /claude.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

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


# Anthropic's list gives each model a release moment; a model served through a
# translator has no such date here: the epoch, which the SDK's ModelInfo
# documents for an unknown release date. `lifecycle` is required there.
UNKNOWN_CREATED_AT = "1970-01-01T00:00:00Z"


def anthropic_model(model: str) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model, "created_at": UNKNOWN_CREATED_AT,
            "lifecycle": "active"}


def anthropic_models_merged(body: bytes | None, models: Sequence[str]) -> bytes:
    """`models` after the upstream's (None: no upstream list), each once, in
    Anthropic's list shape. They go on the last page only (`has_more` false),
    so a client walking the pages sees each once; a body that is not such a
    list passes unchanged."""
    if body is None:
        data: dict[str, Any] = {"data": [], "has_more": False, "first_id": None, "last_id": None}
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if not isinstance(data, dict) or not isinstance(data.get("data"), list) or data.get("has_more") is True:
            return body
        if not models:
            return body
    listed = {entry.get("id") for entry in data["data"] if isinstance(entry, dict)}
    added = [m for m in dict.fromkeys(models) if m not in listed]
    data["data"] = [*data["data"], *(anthropic_model(m) for m in added)]
    ids = [entry.get("id") for entry in data["data"] if isinstance(entry, dict)]
    data["first_id"] = ids[0] if ids else None
    data["last_id"] = ids[-1] if ids else None
    return orjson.dumps(data)
