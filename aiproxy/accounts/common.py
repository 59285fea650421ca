"""Parts several account types share: the API-key check and mode, the token-paste mode, the probes."""

from __future__ import annotations

from typing import Any, Mapping

from ..admin.validation import invalid
from ..formats import wire
from ..upstream_path import fill_model
from .base import CredentialMode, Field, ProbeRequest

# The account test's prompt: the cheapest request an upstream answers properly.
PROMPT = "ping"

API_KEY = Field("api_key", "API key", required=True, secret=True)
API_KEY_MODE = CredentialMode("apikey", "API key", fields=(API_KEY,))
OAUTH_MODE = CredentialMode("oauth", "OAuth login", kind="oauth")


def tokens_json_mode(placeholder: str, hint: str) -> CredentialMode:
    """Tokens pasted as one JSON object: ours, or the file a CLI keeps them in."""
    return CredentialMode("json", "Paste tokens JSON", kind="json", placeholder=placeholder, hint=hint)


def check_api_key(credentials: dict[str, Any]) -> dict[str, Any]:
    api_key = credentials.get("api_key")
    if not isinstance(api_key, str) or not api_key.strip():
        raise invalid("credentials.api_key", "must be a non-empty string")
    # Pasted keys often carry a stray newline; it would break the header.
    return {**credentials, "api_key": api_key.strip()}


def messages_probe(model: str, credentials: Mapping[str, Any]) -> ProbeRequest:
    return ProbeRequest(wire.MESSAGES_PATH,
                        {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": PROMPT}]})


def chat_probe(model: str, credentials: Mapping[str, Any]) -> ProbeRequest:
    return ProbeRequest(wire.CHAT_PATH,
                        {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 1})


def gemini_probe(model: str, credentials: Mapping[str, Any]) -> ProbeRequest:
    # The model is checked as the relay checks it (UnsafePathValue) and escaped.
    return ProbeRequest(
        fill_model(wire.GEMINI_GENERATE_PATH, model),
        {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}], "generationConfig": {"maxOutputTokens": 1}},
    )


def responses_probe(model: str, credentials: Mapping[str, Any]) -> ProbeRequest:
    body: dict[str, Any] = {
        "model": model,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
    }
    if credentials.get("api_key"):
        # The Responses API's smallest allowed limit. (The ChatGPT/Codex
        # backend refuses the parameter; it gets instructions instead.)
        body["max_output_tokens"] = 16
    else:
        body["instructions"] = "Answer in one word."
    return ProbeRequest(wire.RESPONSES_PATH, body)
