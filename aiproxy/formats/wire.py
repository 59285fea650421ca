"""The wire formats an account type can speak, and the canonical upstream paths of each.

A route hands an adapter a call in one of these formats (`UpstreamCall.path`
is one of these paths, `UpstreamCall.body` that format's body); an account
type declares which ones its adapter takes (aiproxy/accounts). When the
client's format is not one the account speaks, a translator will sit between
the two; these names are what both sides agree on.

The paths are the ones routes give upstream (RouteSpec.upstream_path): the
official APIs' own, without a base URL. One place for each, so an adapter, a
probe and a route never spell them apart.
"""

from __future__ import annotations

from typing import Literal

WireFormat = Literal["anthropic-messages", "openai-chat", "openai-responses", "gemini"]

ANTHROPIC_MESSAGES: WireFormat = "anthropic-messages"
OPENAI_CHAT: WireFormat = "openai-chat"
OPENAI_RESPONSES: WireFormat = "openai-responses"
GEMINI: WireFormat = "gemini"

# Anthropic Messages API.
MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
# OpenAI (chat completions, Responses and the models list, shared by both).
CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
MODELS_PATH = "/v1/models"
# Gemini's native API; `{model}` is filled by upstream_path.fill_model.
GEMINI_GENERATE_PATH = "/v1beta/models/{model}:generateContent"
# Streamed, with the query `alt=sse` (else Gemini streams one JSON array).
GEMINI_STREAM_PATH = "/v1beta/models/{model}:streamGenerateContent"
GEMINI_COUNT_PATH = "/v1beta/models/{model}:countTokens"
