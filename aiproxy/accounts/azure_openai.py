"""azure-openai: an Azure OpenAI resource endpoint and its key, for the OpenAI routes (chat and Responses).

Options (all optional): `api_version`, `responses_api_version`, `deployments`
(`{model: deployment name}`), `v1` (use the v1 API); see adapters/azure_openai.py.
"""

from __future__ import annotations

from ..adapters.azure_openai import DEFAULT_API_VERSION, DEFAULT_RESPONSES_API_VERSION, AzureOpenAIAdapter
from ..formats import wire
from .base import AccountType, BaseURL, Field
from .common import API_KEY_MODE, chat_probe, check_api_key

AZURE_OPENAI = AccountType(
    name="azure-openai",
    platform="openai",
    label="Azure OpenAI",
    formats=(wire.OPENAI_CHAT, wire.OPENAI_RESPONSES),
    credential_modes=(API_KEY_MODE,),
    check_credentials=check_api_key,
    base_url=BaseURL(example="https://{resource}.openai.azure.com"),  # the resource endpoint: no default
    options=(
        Field("api_version", "API version", placeholder=DEFAULT_API_VERSION),
        Field("responses_api_version", "Responses API version", placeholder=DEFAULT_RESPONSES_API_VERSION),
        Field("deployments", "Deployments", kind="json", placeholder='{"gpt-4o": "prod-gpt4o"}'),
        Field("v1", "Use Azure v1 API", kind="bool"),
    ),
    probe=chat_probe,
    probe_model="gpt-4o-mini",
    build=lambda deps: AzureOpenAIAdapter(deps.client),
)
