"""openai: an OpenAI API key against api.openai.com, or any OpenAI-compatible base URL.

It speaks chat completions and the Responses API; the `chat_only` option
marks an OpenAI-compatible server that has only chat completions (declared
for the translator to come: routing does not read it yet).
"""

from __future__ import annotations

from typing import Any

from ..adapters.openai import OpenAIAdapter
from ..admin.validation import as_str
from ..formats import wire
from .base import AccountType, BaseURL, CredentialMode, Field, FormatOption
from .common import API_KEY, chat_probe, check_api_key


def check_credentials(credentials: dict[str, Any]) -> dict[str, Any]:
    checked = check_api_key(credentials)
    for name in ("organization", "project"):
        if name in checked and checked[name] is not None:
            checked[name] = as_str(checked[name], f"credentials.{name}")
    return checked


OPENAI = AccountType(
    name="openai",
    platform="openai",
    label="OpenAI / compatible API key",
    formats=(wire.OPENAI_CHAT, wire.OPENAI_RESPONSES),
    format_option=FormatOption("chat_only", (wire.OPENAI_CHAT,)),
    credential_modes=(CredentialMode("apikey", "API key", fields=(
        API_KEY,
        Field("organization", "Organization", placeholder="org-..."),
        Field("project", "Project", placeholder="proj_..."),
    )),),
    check_credentials=check_credentials,
    base_url=BaseURL(default=lambda upstream: upstream.openai),
    probe=chat_probe,
    probe_model="gpt-4o-mini",
    build=lambda deps: OpenAIAdapter(deps.client, deps.settings.upstream.openai),
)
