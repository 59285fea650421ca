"""bedrock: AWS Bedrock serving Claude to /claude clients (SigV4 access keys or a Bedrock API key).

Options: `region` (required), `model_ids` (Anthropic model name -> Bedrock
model id, over the built-in table in formats/bedrock.py), `cross_region_prefix`
(`us`, `eu`, `apac`, `global`, … put before built-in ids).
"""

from __future__ import annotations

import re
from typing import Any

from ..adapters.bedrock import BedrockAdapter
from ..admin.validation import as_str, as_str_map, invalid
from ..formats import bedrock, wire
from .base import AccountType, BaseURL, CredentialMode, Field
from .common import API_KEY_MODE, check_api_key, messages_probe

_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_CROSS_REGION_PREFIX = re.compile(r"^[a-z]+(-[a-z]+)*$")


def check_credentials(credentials: dict[str, Any]) -> dict[str, Any]:
    """A Bedrock API key, or AWS access keys (with a session token for temporary ones)."""
    if "api_key" in credentials:
        return check_api_key(credentials)
    if "access_key_id" not in credentials and "secret_access_key" not in credentials:
        raise invalid("credentials", "give api_key, or access_key_id and secret_access_key")
    checked = dict(credentials)
    for name in ("access_key_id", "secret_access_key"):
        checked[name] = as_str(credentials.get(name), f"credentials.{name}", max_length=1000)
    if checked.get("session_token") is not None:
        checked["session_token"] = as_str(checked["session_token"], "credentials.session_token", max_length=10000)
    return checked


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    region = as_str(options.get("region"), "options.region") if "region" in options else None
    if region is None:
        raise invalid("options.region", "is required for bedrock accounts")
    if not _AWS_REGION.match(region):
        raise invalid("options.region", "must be an AWS region such as us-east-1")
    checked = {**options, "region": region}
    if "model_ids" in options:
        checked["model_ids"] = as_str_map(options["model_ids"], "options.model_ids")
    if options.get("cross_region_prefix") is not None:
        prefix = as_str(options["cross_region_prefix"], "options.cross_region_prefix").rstrip(".")
        if not _CROSS_REGION_PREFIX.match(prefix):
            raise invalid("options.cross_region_prefix", "must be a prefix such as us, eu, apac or global")
        checked["cross_region_prefix"] = prefix
    return checked


AWS_MODE = CredentialMode("aws", "AWS access keys", fields=(
    Field("access_key_id", "Access key ID", required=True),
    Field("secret_access_key", "Secret access key", required=True, secret=True),
    Field("session_token", "Session token", secret=True),
))

BEDROCK = AccountType(
    name="bedrock",
    platform="claude",
    label="AWS Bedrock",
    formats=(wire.ANTHROPIC_MESSAGES,),  # translated to Bedrock's invoke API by the adapter
    credential_modes=(AWS_MODE, API_KEY_MODE),
    check_credentials=check_credentials,
    base_url=BaseURL(default=lambda upstream: upstream.bedrock),
    options=(
        Field("region", "AWS region", required=True, placeholder="us-east-1"),
        Field("cross_region_prefix", "Cross-region prefix", placeholder="us / eu / apac / global"),
        Field("model_ids", "Bedrock model ids", kind="json",
              placeholder='{"claude-sonnet-4-5": "arn:aws:bedrock:..."}'),
    ),
    check_options=check_options,
    probe=messages_probe,
    probe_model="claude-haiku-4-5",
    models=tuple(bedrock.MODEL_IDS),
    build=lambda deps: BedrockAdapter(deps.client, deps.settings.upstream.bedrock),
)
