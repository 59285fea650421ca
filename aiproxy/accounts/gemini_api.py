"""gemini-api: a Google AI Studio API key against generativelanguage.googleapis.com."""

from __future__ import annotations

from ..adapters.gemini_api import GeminiApiAdapter
from ..formats import wire
from .base import AccountType, BaseURL
from .common import API_KEY_MODE, check_api_key, gemini_probe

GEMINI_API = AccountType(
    name="gemini-api",
    platform="gemini",
    label="Gemini API key",
    formats=(wire.GEMINI,),
    credential_modes=(API_KEY_MODE,),
    check_credentials=check_api_key,
    base_url=BaseURL(default=lambda upstream: upstream.gemini),
    probe=gemini_probe,
    probe_model="gemini-2.5-flash",
    build=lambda deps: GeminiApiAdapter(deps.client, deps.settings.upstream.gemini),
)
