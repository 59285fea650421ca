"""openai-responses: the OpenAI Responses API only, from a ChatGPT login (Codex) or an API key.

Served for the Responses path alone (`paths`): the relay does not pick these
accounts for chat completions or models.
"""

from __future__ import annotations

from ..adapters.openai_responses import OpenAIResponsesAdapter
from ..admin.oauth_credentials import check_openai_responses
from ..formats import wire
from ..oauth.providers import openai_provider
from .base import AccountType, BaseURL
from .common import API_KEY_MODE, OAUTH_MODE, responses_probe, tokens_json_mode

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
    build=lambda deps: OpenAIResponsesAdapter(
        deps.client, deps.settings.upstream.openai, deps.settings.upstream.codex, deps.tokens
    ),
)
