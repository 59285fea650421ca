"""ccr: an Anthropic-compatible relay (Claude Code Router and the like) at the account's own base URL.

Served only for models named `ccr,<model>` (Claude Code Router's way of naming
a provider), and asked for `<model>`; see scheduler/model_prefix.py.
"""

from __future__ import annotations

from ..adapters.ccr import CcrAdapter
from ..formats import wire
from .base import AccountType, BaseURL
from .common import API_KEY_MODE, check_api_key, messages_probe

CCR = AccountType(
    name="ccr",
    platform="claude",
    label="Claude Code Router relay",
    formats=(wire.ANTHROPIC_MESSAGES,),
    credential_modes=(API_KEY_MODE,),
    check_credentials=check_api_key,
    base_url=BaseURL(example="http://127.0.0.1:3456"),  # no default: the relay is the account's
    probe=messages_probe,
    probe_model="claude-haiku-4-5",
    model_prefix="ccr,",
    build=lambda deps: CcrAdapter(deps.client),
)
