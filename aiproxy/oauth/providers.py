"""OAuth providers as data: where to authorize, where to get tokens, and their quirks.

One `OAuthProvider` per account type that logs in by OAuth. Adding ChatGPT/Codex
(auth.openai.com, form-encoded code exchange, JSON refresh) or Gemini CLI
(accounts.google.com, form-encoded, client secret) is a new entry here, not new code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..settings import OAuthSettings

# Claude Code's public client (PROTOCOLS.md §8).
CLAUDE_CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
CLAUDE_SCOPES = ("org:create_api_key", "user:profile", "user:inference", "user:sessions:claude_code")


@dataclass(frozen=True)
class OAuthProvider:
    name: str  # for messages: "Claude"
    account_type: str  # the account type its tokens serve
    platform: str  # that type's platform
    authorize_url: str
    token_url: str
    client_id: str
    scopes: tuple[str, ...]
    redirect_uri: str
    # How the token endpoint wants its body: Claude takes JSON, Google and
    # most RFC 6749 servers a form.
    token_encoding: Literal["json", "form"] = "json"
    # Extra query parameters for the authorize URL (Claude: code=true, which
    # makes its callback page show the code for the user to paste).
    authorize_params: dict[str, str] = field(default_factory=dict)
    # Claude wants the state echoed in the code exchange; standard servers don't.
    state_in_token_request: bool = False
    # Google's installed-app clients have a (non-secret) client secret.
    client_secret: str | None = None

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


def claude_provider(settings: OAuthSettings) -> OAuthProvider:
    return OAuthProvider(
        name="Claude",
        account_type="claude-official",
        platform="claude",
        authorize_url=settings.claude_authorize_url,
        token_url=settings.claude_token_url,
        client_id=CLAUDE_CLIENT_ID,
        scopes=CLAUDE_SCOPES,
        redirect_uri=settings.claude_redirect_uri,
        token_encoding="json",
        authorize_params={"code": "true"},
        state_in_token_request=True,
    )


def oauth_providers(settings: OAuthSettings) -> dict[str, OAuthProvider]:
    """Every OAuth provider, by the account type it serves."""
    providers = [claude_provider(settings)]
    return {p.account_type: p for p in providers}
