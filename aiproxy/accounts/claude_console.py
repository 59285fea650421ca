"""claude-console: an Anthropic API key against api.anthropic.com (or a base URL of the account's)."""

from __future__ import annotations

from ..adapters.claude_console import ClaudeConsoleAdapter
from ..formats import wire
from .base import AccountType, BaseURL
from .common import API_KEY_MODE, check_api_key, messages_probe

CLAUDE_CONSOLE = AccountType(
    name="claude-console",
    platform="claude",
    label="Anthropic API key",
    formats=(wire.ANTHROPIC_MESSAGES,),
    credential_modes=(API_KEY_MODE,),
    check_credentials=check_api_key,
    base_url=BaseURL(default=lambda upstream: upstream.anthropic),
    probe=messages_probe,
    probe_model="claude-haiku-4-5",
    build=lambda deps: ClaudeConsoleAdapter(deps.client, deps.settings.upstream.anthropic),
)
