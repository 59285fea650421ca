"""openai-responses: the OpenAI Responses API only, from a ChatGPT login (Codex) or an API key.

Served for the Responses path alone (`paths`): the relay does not pick these
accounts for chat completions or models. Anthropic clients reach them through
the Messages -> Responses translator (formats/bridges); what the Codex backend
refuses of that translation is `CODEX_DROP`.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..adapters.openai_responses import OpenAIResponsesAdapter
from ..admin.oauth_credentials import check_openai_responses
from ..formats import wire
from ..oauth.providers import openai_provider
from .base import AccountType, BaseURL
from .common import API_KEY_MODE, OAUTH_MODE, responses_probe, tokens_json_mode

# What the ChatGPT Codex backend answers 400 to although the public Responses
# API takes it ("Unsupported parameter"): a translated request's output limit,
# sampling values and safety id. None changes what Codex would answer but the
# length cap, which the backend sets by itself.
CODEX_DROP = frozenset({"max_output_tokens", "temperature", "top_p", "safety_identifier"})


def bridge_drop(credentials: Mapping[str, Any]) -> frozenset[str]:
    # A ChatGPT login goes to the Codex backend; an API key to the public API, which takes them all.
    return frozenset() if credentials.get("api_key") else CODEX_DROP

OPENAI_RESPONSES = AccountType(
    name="openai-responses",
    platform="openai",
    label="ChatGPT login (Codex) or Responses key",
    formats=(wire.OPENAI_RESPONSES,),
    paths=(wire.RESPONSES_PATH,),
    credential_modes=(
        OAUTH_MODE,
        tokens_json_mode('{"access_token": "...", "refresh_token": "..."}', "or the content of ~/.codex/auth.json"),
        API_KEY_MODE,
    ),
    check_credentials=check_openai_responses,
    # The Codex backend for ChatGPT logins; an API key goes to Settings.upstream.openai.
    base_url=BaseURL(default=lambda upstream: upstream.codex),
    probe=responses_probe,
    probe_model="gpt-5",
    oauth=openai_provider,
    bridge_drop=bridge_drop,
    build=lambda deps: OpenAIResponsesAdapter(
        deps.client, deps.settings.upstream.openai, deps.settings.upstream.codex, deps.tokens
    ),
)
