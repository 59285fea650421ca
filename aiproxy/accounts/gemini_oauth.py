"""gemini-oauth: a Google login of Gemini CLI ("Login with Google"), served by Code Assist.

Option `project_id`: the Code Assist project (else asked of loadCodeAssist once).
"""

from __future__ import annotations

from ..adapters.gemini_oauth import GeminiOAuthAdapter
from ..admin.oauth_credentials import check_gemini_oauth
from ..formats import code_assist, wire
from ..oauth.providers import gemini_provider
from .base import AccountType, BaseURL, Field
from .common import OAUTH_MODE, gemini_probe, tokens_json_mode

GEMINI_OAUTH = AccountType(
    name="gemini-oauth",
    platform="gemini",
    label="Gemini CLI Google login (OAuth)",
    formats=(wire.GEMINI,),  # wrapped for Code Assist by the adapter
    credential_modes=(
        OAUTH_MODE,
        tokens_json_mode('{"access_token": "...", "refresh_token": "..."}', "or the content of ~/.gemini/oauth_creds.json"),
    ),
    check_credentials=check_gemini_oauth,
    base_url=BaseURL(default=lambda upstream: upstream.code_assist),
    options=(Field("project_id", "Project id"),),
    probe=gemini_probe,
    probe_model="gemini-2.5-flash",
    oauth=gemini_provider,
    models=code_assist.DEFAULT_MODELS,
    build=lambda deps: GeminiOAuthAdapter(deps.client, deps.settings.upstream.code_assist, deps.tokens),
)
