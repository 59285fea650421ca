"""The one shape token usage takes inside the gateway, whatever the upstream said.

`input_tokens` counts only uncached input (Anthropic's meaning): formats whose
input includes cached tokens (OpenAI, Gemini) subtract them when they fill this
in, so a cost is always input*in + cache_creation*write + cache_read*read + output*out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import orjson


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    # The part of cache_creation_tokens written with the 1h TTL (Anthropic's
    # usage.cache_creation.ephemeral_1h_input_tokens), priced at the 1h rate.
    cache_creation_1h_tokens: int = 0


def usage_from_json(
    body: bytes, read: Callable[[dict[str, Any]], Usage | None], model_key: str = "model"
) -> tuple[Usage | None, str | None]:
    """Usage and model of a non-streamed answer, for any format: `read` knows
    where its format keeps usage in the parsed object."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    model = data.get(model_key)
    return read(data), model if isinstance(model, str) else None
