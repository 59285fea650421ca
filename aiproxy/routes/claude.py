"""/claude: the Anthropic Messages API, for the anthropic SDK and Claude Code."""

from __future__ import annotations

from starlette.routing import Route, Router

from ..formats import anthropic, wire
from ..formats.dialect import ANTHROPIC
from ..relay import Relay, RouteSpec
from .endpoint import NotFound, RelayEndpoint
from .model_lists import anthropic_models_for_key, anthropic_models_merged

MESSAGES = RouteSpec(
    platform="claude",
    endpoint="messages",
    method="POST",
    upstream_path=wire.MESSAGES_PATH,
    dialect=ANTHROPIC,
    client_format=wire.ANTHROPIC_MESSAGES,
    body_usage=anthropic.usage_from_body,
    stream_tap=lambda inbound: anthropic.StreamUsage(),
    needs_json_body=True,
    # Also served by OpenAI and Gemini accounts, through formats/bridges.
    translatable=True,
)
COUNT_TOKENS = RouteSpec(
    platform="claude",
    endpoint="count_tokens",
    method="POST",
    upstream_path=wire.COUNT_TOKENS_PATH,
    dialect=ANTHROPIC,
    client_format=wire.ANTHROPIC_MESSAGES,
    needs_json_body=True,
    # Served by the accounts /v1/messages reaches: Gemini's countTokens, or the
    # pair's estimate (formats/bridges/anthropic_count) where the target counts nothing.
    translatable=True,
    counts_tokens=True,
)
MODELS = RouteSpec(
    platform="claude",
    endpoint="models",
    method="GET",
    upstream_path=wire.MODELS_PATH,
    dialect=ANTHROPIC,
    client_format=wire.ANTHROPIC_MESSAGES,
    rewrite_for_key=anthropic_models_for_key,
    # Also what the accounts reached through a translator serve the key.
    merge_models=anthropic_models_merged,
)


def claude_router(relay: Relay) -> Router:
    # Routes take every method; the relay answers 405 in Anthropic's shape,
    # which Starlette's own method check would answer in plain text.
    return Router(
        routes=[
            Route("/v1/messages", RelayEndpoint(relay, MESSAGES)),
            Route("/v1/messages/count_tokens", RelayEndpoint(relay, COUNT_TOKENS)),
            Route("/v1/models", RelayEndpoint(relay, MODELS)),
        ],
        default=NotFound(ANTHROPIC),
    )
