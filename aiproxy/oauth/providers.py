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

# Gemini CLI's scopes for Code Assist (PROTOCOLS.md §6); its client id and
# secret are settings (OAuthSettings.gemini_client_id/secret).
GEMINI_SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)

# Codex CLI's public client for ChatGPT logins (PROTOCOLS.md §4).
OPENAI_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
OPENAI_SCOPES = ("openid", "profile", "email", "offline_access")
# Where the id token keeps the ChatGPT account, which the Codex backend wants
# in the `chatgpt-account-id` header.
OPENAI_AUTH_CLAIM = "https://api.openai.com/auth"


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
    # How refresh requests are encoded, when not as `token_encoding` (OpenAI
    # exchanges the code as a form but refreshes with JSON).
    refresh_encoding: Literal["json", "form"] | None = None
    # Extra fields of a refresh request (OpenAI: a narrower scope).
    refresh_params: dict[str, str] = field(default_factory=dict)
    # Facts kept from the id token's claims, as stored name -> claim path
    # (OpenAI: the ChatGPT account id, nested under its auth claim).
    id_token_claims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Settings that must be set before this provider can be used (as the
    # environment variables that set them): its login and refresh answer
    # which ones while any is empty (Gemini: gemini-cli's client id and secret).
    missing_settings: tuple[str, ...] = ()

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


def openai_provider(settings: OAuthSettings) -> OAuthProvider:
    return OAuthProvider(
        name="OpenAI",
        account_type="openai-responses",
        platform="openai",
        authorize_url=settings.openai_authorize_url,
        token_url=settings.openai_token_url,
        client_id=OPENAI_CLIENT_ID,
        scopes=OPENAI_SCOPES,
        redirect_uri=settings.openai_redirect_uri,
        # The code exchange is a standard form post; the refresh is JSON.
        token_encoding="form",
        refresh_encoding="json",
        refresh_params={"scope": "openid profile email"},
        # As Codex CLI asks (and other ChatGPT-login clients copy): organizations
        # in the id token, Codex's simplified login pages, and who is asking.
        # There is no code to paste from a page: the browser is sent to
        # localhost:1455, and the admin pastes that callback URL from the
        # address bar (nothing needs to listen there).
        authorize_params={
            "id_token_add_organizations": "true",
            "codex_cli_simplified_flow": "true",
            "originator": "codex_cli_rs",
        },
        id_token_claims={"chatgpt_account_id": (OPENAI_AUTH_CLAIM, "chatgpt_account_id")},
    )


def gemini_provider(settings: OAuthSettings) -> OAuthProvider:
    """Gemini CLI's "Login with Google" (Code Assist): Google's installed-app
    flow with PKCE, a form-encoded token endpoint and a client secret; offline
    access and forced consent, so every login yields a refresh token."""
    required = {
        "AIPROXY_GEMINI_OAUTH_CLIENT_ID": settings.gemini_client_id,
        "AIPROXY_GEMINI_OAUTH_CLIENT_SECRET": settings.gemini_client_secret,
        "AIPROXY_GEMINI_OAUTH_REDIRECT_URI": settings.gemini_redirect_uri,
    }
    return OAuthProvider(
        name="Google (Gemini CLI)",
        account_type="gemini-oauth",
        platform="gemini",
        authorize_url=settings.gemini_authorize_url,
        token_url=settings.gemini_token_url,
        client_id=settings.gemini_client_id,
        client_secret=settings.gemini_client_secret or None,
        scopes=GEMINI_SCOPES,
        redirect_uri=settings.gemini_redirect_uri,
        token_encoding="form",
        authorize_params={"access_type": "offline", "prompt": "consent"},
        missing_settings=tuple(name for name, value in required.items() if not value),
    )


def oauth_providers(settings: OAuthSettings) -> dict[str, OAuthProvider]:
    """Every OAuth provider, by the account type it serves."""
    providers = [claude_provider(settings), openai_provider(settings), gemini_provider(settings)]
    return {p.account_type: p for p in providers}
