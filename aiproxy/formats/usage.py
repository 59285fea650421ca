"""The one shape token usage takes inside the gateway, whatever the upstream said.

`input_tokens` counts only uncached input (Anthropic's meaning): formats whose
input includes cached tokens (OpenAI, Gemini) subtract them when they fill this
in, so a cost is always input*in + cache_creation*write + cache_read*read + output*out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
