"""What an account type declares about itself: one `AccountType` per type, in its own module.

Everything the gateway knows about a kind of upstream account is in its
declaration: which platform's routes it serves, the wire formats its adapter
takes, the paths it serves, what its credentials and options are and how
they are checked, its default base URL, the request the account test sends,
its OAuth provider, the models it is known to serve, and how its adapter is
built. The registry (aiproxy/accounts/registry.py) lists the declarations and
derives the rest from them: the admin API's validation, the account test,
model-prefix routing, the adapter map and GET /admin/api/account-types (which
the console renders its account form from).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

import httpx

from ..formats.wire import WireFormat

if TYPE_CHECKING:
    from ..adapters.base import Adapter
    from ..oauth.providers import OAuthProvider
    from ..oauth.tokens import TokenManager
    from ..settings import OAuthSettings, Settings, UpstreamURLs

FieldKind = Literal["string", "json", "bool"]
# How an admin gives an account its credentials: typed fields, a pasted JSON
# object (the tokens file a CLI keeps), or an OAuth login (/admin/api/oauth).
ModeKind = Literal["fields", "json", "oauth"]
# A check of credentials or options: takes the object sent, gives back what is
# stored, or raises admin.validation.invalid(...) (a 400 naming the field).
Check = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Field:
    """One input of the account form: a credential or an option."""

    name: str  # the key in `credentials` or `options`
    label: str  # English; the console translates by `name` where it knows it
    kind: FieldKind = "string"  # json: an object, typed as JSON text
    required: bool = False
    secret: bool = False  # shown as a password input, never echoed back
    placeholder: str = ""  # an example value, the same in every language

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "kind": self.kind, "required": self.required,
                "secret": self.secret, "placeholder": self.placeholder}


@dataclass(frozen=True)
class CredentialMode:
    """One way of giving the credentials; a type's first mode is its usual one."""

    name: str  # "apikey", "aws", "json", "oauth": the console's i18n key
    label: str
    kind: ModeKind = "fields"
    fields: tuple[Field, ...] = ()  # kind "fields": sent as {name: value}
    placeholder: str = ""  # kind "json": an example of the object
    hint: str = ""  # kind "json": where such an object is found

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "kind": self.kind,
                "fields": [f.describe() for f in self.fields], "placeholder": self.placeholder, "hint": self.hint}


@dataclass(frozen=True)
class BaseURL:
    """Where the type's upstream is when the account names no base URL."""

    # The default from the settings (Settings.upstream); None: the account's
    # own base URL is required.
    default: Callable[[UpstreamURLs], str] | None = None
    example: str = ""  # shown when there is no default to show

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class FormatOption:
    """A true option that narrows the wire formats an account speaks
    (an OpenAI-compatible server that has only chat completions)."""

    option: str
    formats: tuple[WireFormat, ...]


@dataclass(frozen=True)
class ProbeRequest:
    """The account test's request: the upstream path and its JSON body."""

    path: str
    body: dict[str, Any]


# (model as the upstream names it, the account's credentials) -> the probe.
Probe = Callable[[str, Mapping[str, Any]], ProbeRequest]


@dataclass(frozen=True)
class AdapterDeps:
    """What the app factory hands an account type to build its adapter."""

    client: httpx.AsyncClient
    settings: Settings
    tokens: TokenManager  # OAuth access tokens, refreshed and stored


@dataclass(frozen=True)
class AccountType:
    """Everything about one kind of upstream account (see the module docstring)."""

    name: str  # the account's `type`
    platform: str  # whose routes it serves: one of stores.entities.PLATFORMS
    label: str  # English, for the console (which translates known types)
    # The wire formats its adapter takes from a route; the first is its own.
    formats: tuple[WireFormat, ...]
    credential_modes: tuple[CredentialMode, ...]
    check_credentials: Check
    build: Callable[[AdapterDeps], Adapter]
    probe: Probe
    probe_model: str  # asked for by the account test when the account names no model
    base_url: BaseURL = BaseURL()
    options: tuple[Field, ...] = ()  # edited with their own inputs; any other key is kept as given
    check_options: Check | None = None  # None: any object
    format_option: FormatOption | None = None
    # The upstream paths it serves (RouteSpec.upstream_path); None: every route of its platform.
    paths: tuple[str, ...] | None = None
    # Served only for models named `<prefix><model>`, and then only by such accounts.
    model_prefix: str | None = None
    oauth: Callable[[OAuthSettings], OAuthProvider] | None = None
    models: tuple[str, ...] = ()  # models it is known to serve, for the console to offer
    # Fields a request translated from another client format (formats/bridges)
    # must not carry to this upstream, given the account's credentials: the
    # ChatGPT Codex backend refuses some the public API takes.
    bridge_drop: Callable[[Mapping[str, Any]], frozenset[str]] | None = None

    def speaks(self, options: Mapping[str, Any]) -> tuple[WireFormat, ...]:
        """The wire formats an account of this type speaks, given its options."""
        if self.format_option is not None and options.get(self.format_option.option) is True:
            return self.format_option.formats
        return self.formats

    def describe(self, upstream: UpstreamURLs) -> dict[str, Any]:
        """The declaration as GET /admin/api/account-types shows it."""
        default = self.base_url.default(upstream) if self.base_url.default is not None else None
        return {
            "name": self.name,
            "platform": self.platform,
            "label": self.label,
            "formats": list(self.formats),
            "format_option": (
                {"option": self.format_option.option, "formats": list(self.format_option.formats)}
                if self.format_option else None
            ),
            "paths": list(self.paths) if self.paths is not None else None,
            "credential_modes": [m.describe() for m in self.credential_modes],
            "base_url": {"default": default, "required": self.base_url.required,
                         "placeholder": default or self.base_url.example},
            "options": [f.describe() for f in self.options],
            "oauth": {"start": f"oauth/{self.name}/start"} if self.oauth is not None else None,
            "model_prefix": self.model_prefix,
            "models": list(self.models),
        }
