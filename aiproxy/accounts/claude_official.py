"""claude-official: a Claude subscription (Pro/Max) logged in by OAuth, on the Messages API."""

from __future__ import annotations

from ..adapters.claude_official import ClaudeOfficialAdapter
from ..admin.oauth_credentials import check_oauth_tokens
from ..formats import wire
from ..oauth.providers import claude_provider
from .base import AccountType, BaseURL
from .common import OAUTH_MODE, messages_probe, tokens_json_mode

CLAUDE_OFFICIAL = AccountType(
    name="claude-official",
    platform="claude",
    label="Claude subscription (OAuth)",
    formats=(wire.ANTHROPIC_MESSAGES,),
    credential_modes=(
        OAUTH_MODE,
        tokens_json_mode('{"access_token": "...", "refresh_token": "...", "expires_at": 1767225600}',
                         "or the content of ~/.claude/.credentials.json"),
    ),
    check_credentials=check_oauth_tokens,
    base_url=BaseURL(default=lambda upstream: upstream.anthropic),
    probe=messages_probe,
    probe_model="claude-haiku-4-5",
    oauth=claude_provider,
    build=lambda deps: ClaudeOfficialAdapter(deps.client, deps.settings.upstream.anthropic, deps.tokens),
)
