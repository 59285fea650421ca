"""Account types: one module per type (its `AccountType` declaration) and the registry that lists them."""

from .base import AccountType, AdapterDeps, BaseURL, CredentialMode, Field, FormatOption, ProbeRequest
from .registry import ACCOUNT_TYPES, AccountTypes

__all__ = [
    "ACCOUNT_TYPES",
    "AccountType",
    "AccountTypes",
    "AdapterDeps",
    "BaseURL",
    "CredentialMode",
    "Field",
    "FormatOption",
    "ProbeRequest",
]
