"""/openai: the OpenAI Chat Completions, Responses and Models APIs, for the openai SDKs and Codex CLI.

Codex CLI with a custom provider calls `{base_url}/responses`; so that a base
URL of the bare host (or host + /v1) works, the Responses route is also served
at the root as `/responses` and `/v1/responses`.
"""

from __future__ import annotations

from typing import Callable

from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp

from ..formats import openai_chat, openai_responses, wire
from ..formats.dialect import OPENAI
from ..relay import Continuation, Relay, RouteSpec
from .endpoint import NotFound, RelayEndpoint
from .model_lists import openai_models_for_key

CHAT_COMPLETIONS = RouteSpec(
    platform="openai",
    endpoint="chat_completions",
    method="POST",
    upstream_path=wire.CHAT_PATH,
    dialect=OPENAI,
    client_format=wire.OPENAI_CHAT,
    body_usage=openai_chat.usage_from_body,
    # Usage is always asked for upstream (prepare_body); the tap drops that
    # chunk again unless the client asked for it itself.
    stream_tap=lambda inbound: openai_chat.StreamTap(
        drop_usage_chunk=not openai_chat.client_wants_usage(inbound.json)
    ),
    prepare_body=openai_chat.prepare_body,
    needs_json_body=True,
    # Also served by Claude and Gemini accounts and by `openai-responses` ones
    # (chat -> Messages -> Responses), through formats/bridges.
    translatable=True,
)
RESPONSES = RouteSpec(
    platform="openai",
    endpoint="responses",
    method="POST",
    upstream_path=wire.RESPONSES_PATH,
    dialect=OPENAI,
    client_format=wire.OPENAI_RESPONSES,
    body_usage=openai_responses.usage_from_body,
    stream_tap=lambda inbound: openai_responses.StreamTap(),
    needs_json_body=True,
    # Also served by Claude and Gemini accounts and by chat-only OpenAI-compatible
    # ones, through formats/bridges (a bridged account keeps no stored responses).
    translatable=True,
    # A follow-up naming `previous_response_id` goes to the account that stored that response.
    continuation=Continuation(
        previous=openai_responses.previous_response_id,
        stores=openai_responses.asks_to_store,
        read_body=openai_responses.read_body,
    ),
)
MODELS = RouteSpec(
    platform="openai",
    endpoint="models",
    method="GET",
    upstream_path=wire.MODELS_PATH,
    dialect=OPENAI,
    # Shared by both OpenAI APIs; recorded as the one every OpenAI account speaks.
    client_format=wire.OPENAI_CHAT,
    rewrite_for_key=openai_models_for_key,
)

ROOT_RESPONSES_PATHS = ("/responses", "/v1/responses")


def openai_router(relay: Relay) -> Router:
    # Routes take every method; the relay answers 405 in OpenAI's shape.
    return Router(
        routes=[
            Route("/v1/chat/completions", RelayEndpoint(relay, CHAT_COMPLETIONS)),
            Route("/v1/responses", RelayEndpoint(relay, RESPONSES)),
            Route("/v1/models", RelayEndpoint(relay, MODELS)),
        ],
        default=NotFound(OPENAI),
    )


def responses_routes(relay: Relay, wrap: Callable[[ASGIApp], ASGIApp]) -> list[BaseRoute]:
    """The root-level Responses routes, each behind `wrap` (the platform's middleware).

    Plain routes, not a Mount at "/": a root mount would take every path,
    /health and /admin included.
    """
    app = wrap(RelayEndpoint(relay, RESPONSES))
    return [Route(path, app) for path in ROOT_RESPONSES_PATHS]
