"""/gemini: the Gemini API for the google-genai SDKs and the Gemini CLI, and an OpenAI-style chat.

Native paths put the model and the method in one segment,
`/v1beta/models/{model}:{method}`: one route per API version takes the rest of
the path and `ModelEndpoint` splits it at the colon, so one table
(`MODEL_SPECS`) says which methods exist. The model in the path is the one
served (a `model` in the body is dropped, never a way to name another model
or method upstream), and it must be a Gemini model name (upstream_path.py),
else 400. `/gemini/v1/chat` speaks Chat Completions and
translates (formats/gemini_chat.py); it sits behind an OpenAI-shaped
middleware stack of its own, so every error it answers is OpenAI-shaped.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from ..context import context
from ..errors import error_response
from ..formats import gemini, gemini_chat, openai_chat, wire
from ..formats.dialect import GEMINI, OPENAI, Dialect
from ..inbound import BadRequest, InboundRequest, read_inbound
from ..relay import Relay, RouteSpec
from ..upstream_path import GEMINI_MODEL, UnsafePathValue
from .endpoint import NotFound, RelayEndpoint
from .model_lists import gemini_models_for_key

VERSIONS = ("v1beta", "v1")
CHAT_PATH = "/gemini/v1/chat"


def _spec(endpoint: str, method: str, upstream_path: str, **extra: Any) -> RouteSpec:
    return RouteSpec(platform="gemini", endpoint=endpoint, method=method, upstream_path=upstream_path,
                     dialect=GEMINI, client_format=wire.GEMINI, **extra)


def _without_body_model(body: dict[str, Any]) -> dict[str, Any]:
    # The path names the model (and the relay reads it from there): a `model`
    # in the body would name another to the upstream, so it does not go along.
    return {k: v for k, v in body.items() if k != "model"} if "model" in body else body


def _model_specs(version: str) -> dict[str, RouteSpec]:
    """The specs under `models/{model}`, by the method after the colon."""
    base = f"/{version}/models/{{model}}"
    post = {"needs_json_body": True, "prepare_body": _without_body_model}
    # Generation is also served by Claude and OpenAI accounts, through formats/bridges.
    return {
        "generateContent": _spec("generateContent", "POST", base + ":generateContent",
                                 body_usage=gemini.usage_from_body, translatable=True, **post),
        "streamGenerateContent": _spec("streamGenerateContent", "POST", base + ":streamGenerateContent",
                                       stream_tap=lambda inbound: gemini.StreamUsage(), translatable=True, **post),
        "countTokens": _spec("countTokens", "POST", base + ":countTokens", **post),
        "": _spec("models", "GET", base),  # GET models/{model}: no method
    }


MODEL_SPECS = {version: _model_specs(version) for version in VERSIONS}
LIST_SPECS = {
    version: _spec("models", "GET", f"/{version}/models", rewrite_for_key=gemini_models_for_key) for version in VERSIONS
}


def _chat_spec(upstream_path: str, **extra: Any) -> RouteSpec:
    # A chat client on Gemini accounts, translated by the route itself (prepare_body, the taps).
    return RouteSpec(platform="gemini", endpoint="chat", method="POST", upstream_path=upstream_path, dialect=OPENAI,
                     client_format=wire.OPENAI_CHAT, native_format=wire.GEMINI,
                     prepare_body=gemini_chat.to_gemini, needs_json_body=True, **extra)


CHAT = _chat_spec(
    "/v1beta/models/{model}:generateContent",
    body_usage=gemini.usage_from_body,
    rewrite_body=gemini_chat.completion_from_gemini,
)
CHAT_STREAM = _chat_spec(
    "/v1beta/models/{model}:streamGenerateContent?alt=sse",
    stream_tap=lambda inbound: gemini_chat.ChatStream(include_usage=openai_chat.client_wants_usage(inbound.json)),
)


async def _inbound(
    scope: Scope, receive: Receive, send: Send, max_bytes: int, dialect: Dialect
) -> InboundRequest | None:
    """The client's request, read here (and kept for the relay) because the route
    depends on it; None when it could not be read and the client was answered."""
    try:
        return await read_inbound(scope, receive, max_bytes)
    except BadRequest as exc:
        if exc.status != 499:  # a vanished client gets no answer
            await error_response(dialect, exc.status, exc.message)(scope, receive, send)
        return None


class ModelEndpoint:
    """`models/{model}` and `models/{model}:{method}` of one API version."""

    def __init__(self, relay: Relay, version: str, max_request_bytes: int) -> None:
        self.relay = relay
        self.specs = MODEL_SPECS[version]
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        model, _, method = scope["path_params"]["rest"].partition(":")
        spec = self.specs.get(method)
        if spec is None:  # a method (the part after the first colon) that is not one of ours
            await NotFound(GEMINI)(scope, receive, send)
            return
        try:
            GEMINI_MODEL.check(model)
        except UnsafePathValue as exc:
            await error_response(GEMINI, 400, exc.message)(scope, receive, send)
            return
        if spec.stream_tap is not None:
            # The method, not the body, asks for a stream here: say so for the
            # relay (a JSON-array stream is not SSE) and the usage record.
            inbound = await _inbound(scope, receive, send, self.max_request_bytes, GEMINI)
            if inbound is None:
                return
            context(scope).inbound = replace(inbound, stream=True)
        await self.relay.serve(spec, scope, receive, send)


class ChatEndpoint:
    """Chat Completions in, Gemini upstream: a stream or not, as the body says."""

    def __init__(self, relay: Relay, max_request_bytes: int) -> None:
        self.relay = relay
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST":
            inbound = await _inbound(scope, receive, send, self.max_request_bytes, OPENAI)
            if inbound is None:
                return
            problem = gemini_chat.request_problem(inbound.json) if inbound.json is not None else None
            if not problem and inbound.model is not None:
                # Checked here, before an account is chosen: the relay would refuse it
                # too, but only after the scheduler looked for one that serves it.
                try:
                    GEMINI_MODEL.check(inbound.model)
                except UnsafePathValue as exc:
                    problem = exc.message
            if problem:
                await error_response(OPENAI, 400, problem)(scope, receive, send)
                return
            spec = CHAT_STREAM if inbound.stream else CHAT
        else:
            spec = CHAT  # the relay answers 405
        await self.relay.serve(spec, scope, receive, send)


def gemini_router(relay: Relay, *, max_request_bytes: int) -> Router:
    """The native API, mounted at /gemini. Routes take every method; the relay
    answers 405 in Google's shape."""
    routes: list[BaseRoute] = []
    for version in VERSIONS:
        routes.append(Route(f"/{version}/models", RelayEndpoint(relay, LIST_SPECS[version])))
        routes.append(Route(f"/{version}/models/{{rest:path}}", ModelEndpoint(relay, version, max_request_bytes)))
    return Router(routes=routes, default=NotFound(GEMINI))


def gemini_chat_routes(relay: Relay, wrap: Callable[[ASGIApp], ASGIApp], *, max_request_bytes: int) -> list[BaseRoute]:
    """`/gemini/v1/chat` behind `wrap` (an OpenAI-shaped middleware stack); to be
    listed before the /gemini mount, which would otherwise take the path."""
    return [Route(CHAT_PATH, wrap(ChatEndpoint(relay, max_request_bytes)))]
