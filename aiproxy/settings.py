"""Every setting of the gateway, and the one place they are read from the environment.

Each setting that the environment can set is declared once, as a dataclass
field: its default is the field's default, and its metadata (made by `env_var()`)
names the environment variable and says in one line what it does. One generic
reader (`read_env`) turns those declarations into values, so a setting's name,
type and default are written in one place; `declared()` lists them as `Setting`
records, which tests/test_settings.py checks docs/configuration.md against.

Why fields with metadata rather than a separate table: the dataclass is what
embedders construct, so the default, the type annotation and the comment saying
why already live on the field; a table beside it would repeat the name and the
default of every setting. The one setting that is composed from several
variables (`ServerSettings.database_url` from `DATABASE_URL` or `DB_*`) stays
code, with its variables declared in `DATABASE_ENV`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from typing import Any, TypeVar, get_type_hints
from urllib.parse import quote

T = TypeVar("T")


def env_var(
    var: str,
    doc: str,
    *,
    choices: tuple[str, ...] = (),
    minimum: int | None = None,
    unit: str = "",
) -> dict[str, Any]:
    """The metadata of a field the environment sets: `field(default=..., metadata=env_var(...))`.

    `choices`: the value is stripped, lower-cased and must be one of them.
    `minimum` (ints): a smaller value stops startup. `unit` names what a whole
    number counts in its error message ("bytes").
    """
    return {"env": var, "doc": doc, "choices": choices, "minimum": minimum, "unit": unit}


@dataclass(frozen=True)
class Setting:
    """One declared setting: the variable, the attribute it sets and how its value is read."""

    env: str
    attr: str  # dotted for nested settings: "upstream.anthropic", "limits.head_timeout"
    kind: str  # "str", "optional str", "int", "float" or "choice" (no setting is a bool yet)
    default: Any
    doc: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    unit: str = ""

    def parse(self, raw: str) -> Any:
        """The value of a non-empty variable; a malformed one raises ValueError naming the variable."""
        if self.kind == "int":
            try:
                number = int(raw)
            except ValueError:
                unit = f" of {self.unit}" if self.unit else ""
                raise ValueError(f"{self.env} must be a whole number{unit}, not {raw!r}") from None
            if self.minimum is not None and number < self.minimum:
                raise ValueError(f"{self.env} must be at least {self.minimum}, not {number}")
            return number
        if self.kind == "float":
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"{self.env} must be a number, not {raw!r}") from None
        if self.kind == "choice":
            value = raw.strip().lower()
            if value not in self.choices:
                allowed = " or ".join([", ".join(self.choices[:-1]), self.choices[-1]])
                raise ValueError(f"{self.env} must be {allowed}, not {value!r}")
            return value
        return raw


_KINDS: dict[Any, str] = {str: "str", str | None: "optional str", int: "int", float: "float"}


def _fields_of(cls: type) -> tuple[tuple[str, Setting | type], ...]:
    """Each field of `cls` that the environment sets (as a Setting) or that nests such a dataclass."""
    hints = get_type_hints(cls)
    out: list[tuple[str, Setting | type]] = []
    for f in fields(cls):
        hint = hints[f.name]
        if "env" in f.metadata:
            m = f.metadata
            kind = "choice" if m["choices"] else _KINDS[hint]
            if f.default is MISSING:
                raise TypeError(f"{cls.__name__}.{f.name}: a setting needs a plain default")
            out.append(
                (f.name, Setting(m["env"], f.name, kind, f.default, m["doc"], m["choices"], m["minimum"], m["unit"]))
            )
        elif isinstance(hint, type) and is_dataclass(hint):
            out.append((f.name, hint))
    return tuple(out)


def declared(cls: type) -> tuple[Setting, ...]:
    """The settings `cls.from_env` reads from fields, nested ones with dotted attributes."""
    out: list[Setting] = []
    for name, item in _fields_of(cls):
        if isinstance(item, Setting):
            out.append(item)
        else:
            out.extend(replace(s, attr=f"{name}.{s.attr}") for s in declared(item))
    return tuple(out)


def read_env(cls: type[T], environ: Mapping[str, str]) -> T:
    """A `cls` whose declared fields are read from `environ`; an unset or empty variable keeps the default."""
    kwargs: dict[str, Any] = {}
    for name, item in _fields_of(cls):
        if isinstance(item, Setting):
            raw = environ.get(item.env)
            if raw:
                kwargs[name] = item.parse(raw)
        else:
            kwargs[name] = read_env(item, environ)
    return cls(**kwargs)


@dataclass
class UpstreamURLs:
    """Official endpoints, overridable for tests and for users behind their own mirrors."""

    anthropic: str = field(
        default="https://api.anthropic.com",
        metadata=env_var(
            "AIPROXY_ANTHROPIC_BASE_URL", "default upstream of Claude Console and Claude Official accounts"
        ),
    )
    # without /v1: routes add it
    openai: str = field(
        default="https://api.openai.com",
        metadata=env_var("AIPROXY_OPENAI_BASE_URL", "default upstream of OpenAI accounts, without /v1"),
    )
    # without /v1beta: routes add it
    gemini: str = field(
        default="https://generativelanguage.googleapis.com",
        metadata=env_var("AIPROXY_GEMINI_BASE_URL", "default upstream of gemini-api accounts, without /v1beta"),
    )
    # Bedrock runtime, per account region ("{region}" is replaced); an account's base_url overrides it.
    bedrock: str = field(
        default="https://bedrock-runtime.{region}.amazonaws.com",
        metadata=env_var("AIPROXY_BEDROCK_BASE_URL", "default endpoint of bedrock accounts; {region} is replaced"),
    )
    # Code Assist, the API behind Gemini CLI's "Login with Google" (gemini-oauth accounts).
    code_assist: str = field(
        default="https://cloudcode-pa.googleapis.com",
        metadata=env_var("AIPROXY_CODE_ASSIST_BASE_URL", "Code Assist, the upstream of gemini-oauth accounts"),
    )
    # The ChatGPT backend Codex CLI talks to with a ChatGPT (subscription) login;
    # `openai-responses` accounts logged in by OAuth POST to {codex}/responses.
    codex: str = field(
        default="https://chatgpt.com/backend-api/codex",
        metadata=env_var(
            "AIPROXY_CODEX_BASE_URL", "the ChatGPT backend of openai-responses accounts with a ChatGPT login"
        ),
    )


@dataclass
class OAuthSettings:
    """OAuth logins of subscription accounts: the providers' URLs (overridable for
    tests and mirrors; client ids and scopes live in aiproxy.oauth.providers) and
    how tokens are kept fresh."""

    claude_authorize_url: str = field(
        default="https://claude.ai/oauth/authorize",
        metadata=env_var("AIPROXY_CLAUDE_OAUTH_AUTHORIZE_URL", "where an admin logs a claude-official account in"),
    )
    claude_token_url: str = field(
        default="https://platform.claude.com/v1/oauth/token",
        metadata=env_var("AIPROXY_CLAUDE_OAUTH_TOKEN_URL", "Claude's token endpoint: code exchange and refresh"),
    )
    claude_redirect_uri: str = field(
        default="https://platform.claude.com/oauth/code/callback",
        metadata=env_var(
            "AIPROXY_CLAUDE_OAUTH_REDIRECT_URI", "the redirect URI registered for Claude Code's client id"
        ),
    )
    # Gemini CLI's "Login with Google" (gemini-oauth accounts). The client is
    # gemini-cli's installed-app client, whose id and (non-secret) secret are in
    # its source; they are not shipped here: set them, or logins and refreshes
    # answer which setting is missing. The redirect is gemini-cli's user-code
    # page, which shows the code to paste back.
    gemini_authorize_url: str = field(
        default="https://accounts.google.com/o/oauth2/v2/auth",
        metadata=env_var("AIPROXY_GEMINI_OAUTH_AUTHORIZE_URL", "Google's authorize endpoint"),
    )
    gemini_token_url: str = field(
        default="https://oauth2.googleapis.com/token",
        metadata=env_var("AIPROXY_GEMINI_OAUTH_TOKEN_URL", "Google's token endpoint: code exchange and refresh"),
    )
    gemini_client_id: str = field(
        default="",
        metadata=env_var(
            "AIPROXY_GEMINI_OAUTH_CLIENT_ID", "Gemini CLI's OAuth client id, needed for gemini-oauth logins"
        ),
    )
    gemini_client_secret: str = field(
        default="",
        metadata=env_var("AIPROXY_GEMINI_OAUTH_CLIENT_SECRET", "that client's secret, needed for gemini-oauth logins"),
    )
    gemini_redirect_uri: str = field(
        default="https://codeassist.google.com/authcode",
        metadata=env_var("AIPROXY_GEMINI_OAUTH_REDIRECT_URI", "the redirect of Gemini CLI's user-code login"),
    )
    # ChatGPT/Codex logins (openai-responses accounts), as Codex CLI does them.
    openai_authorize_url: str = field(
        default="https://auth.openai.com/oauth/authorize",
        metadata=env_var("AIPROXY_OPENAI_OAUTH_AUTHORIZE_URL", "where an admin logs an openai-responses account in"),
    )
    openai_token_url: str = field(
        default="https://auth.openai.com/oauth/token",
        metadata=env_var("AIPROXY_OPENAI_OAUTH_TOKEN_URL", "OpenAI's token endpoint: code exchange and refresh"),
    )
    openai_redirect_uri: str = field(
        default="http://localhost:1455/auth/callback",
        metadata=env_var("AIPROXY_OPENAI_OAUTH_REDIRECT_URI", "the redirect URI registered for Codex CLI's client id"),
    )
    # An access token is refreshed when it expires within this many seconds,
    # so a long request never starts with a token about to die.
    refresh_skew_seconds: float = field(
        default=300.0,
        metadata=env_var(
            "AIPROXY_OAUTH_REFRESH_SKEW_SECONDS", "refresh an access token expiring within this many seconds"
        ),
    )
    # How long a started authorization waits for its code to be pasted back.
    session_ttl_seconds: float = field(
        default=600.0,
        metadata=env_var("AIPROXY_OAUTH_SESSION_TTL_SECONDS", "how long a started OAuth login waits for its code"),
    )


@dataclass
class Settings:
    # Secrets. None means "generate for this process only": fine for tests and
    # in-memory embedding; a persistent deployment must pass stable values
    # (server.py keeps them in a file beside the data).
    jwt_secret: str | None = field(default=None, metadata=env_var("AIPROXY_JWT_SECRET", "signs admin session tokens"))
    encryption_key: str | None = field(
        default=None,
        metadata=env_var("AIPROXY_ENCRYPTION_KEY", "Fernet key that encrypts upstream credentials at rest"),
    )

    admin_username: str = field(
        default="admin", metadata=env_var("AIPROXY_ADMIN_USERNAME", "the admin created on first start")
    )
    admin_password: str = field(
        default="admin123",
        metadata=env_var("AIPROXY_ADMIN_PASSWORD", "that admin's first password (changed at first login)"),
    )
    jwt_ttl_seconds: int = field(
        default=24 * 3600, metadata=env_var("AIPROXY_JWT_TTL_SECONDS", "admin session lifetime, seconds")
    )

    # Key cache: how long a looked-up key is trusted before it is read again.
    # Changes made through this process invalidate at once; the TTL bounds how
    # long another instance's change takes to be seen here.
    key_cache_ttl: float = field(
        default=30.0,
        metadata=env_var("AIPROXY_KEY_CACHE_TTL", "seconds a cached API key is trusted before it is re-read"),
    )
    key_cache_negative_ttl: float = 5.0
    # How often the account pool re-reads accounts (other instances' edits).
    account_refresh_seconds: float = field(
        default=30.0, metadata=env_var("AIPROXY_ACCOUNT_REFRESH_SECONDS", "how often accounts are re-read")
    )

    # Usage records go to the store in batches, off the request path.
    usage_batch_size: int = 200
    usage_flush_seconds: float = field(
        default=1.0, metadata=env_var("AIPROXY_USAGE_FLUSH_SECONDS", "how often buffered usage records are written")
    )

    # -- Database failure handling -----------------------
    # While the store fails, usage records wait in memory, up to this many...
    usage_buffer_records: int = field(
        default=100_000,
        metadata=env_var("AIPROXY_USAGE_BUFFER_RECORDS", "usage records kept in memory while the database fails"),
    )
    # ...then are spilled to JSON-lines files here and written back once the
    # store answers (at the next start too). None: no spool, the oldest records
    # are dropped beyond the buffer. server.py sets <AIPROXY_DATA_DIR>/usage-spool.
    usage_spool_dir: str | None = field(
        default=None, metadata=env_var("AIPROXY_USAGE_SPOOL_DIR", "where usage records beyond the buffer are spilled")
    )
    # Retries of a failing store: this delay, doubled per failure up to the cap, jittered.
    usage_backoff_initial_seconds: float = field(
        default=0.5,
        metadata=env_var("AIPROXY_USAGE_BACKOFF_INITIAL_SECONDS", "first retry delay of a failing usage write"),
    )
    usage_backoff_max_seconds: float = field(
        default=30.0, metadata=env_var("AIPROXY_USAGE_BACKOFF_MAX_SECONDS", "the cap of that retry delay")
    )
    # At shutdown, how long the last write may take before the rest is spilled.
    usage_shutdown_seconds: float = field(
        default=10.0,
        metadata=env_var("AIPROXY_USAGE_SHUTDOWN_SECONDS", "how long the last usage write may take at shutdown"),
    )
    # An admin API call whose database reads or writes take longer answers 503.
    admin_db_timeout_seconds: float = field(
        default=5.0,
        metadata=env_var(
            "AIPROXY_ADMIN_DB_TIMEOUT_SECONDS", "an admin API call whose database call takes longer answers 503"
        ),
    )
    # While the key store fails, a cached key keeps working this long past its TTL;
    # a key not in memory answers 503 when the store fails or takes longer than the timeout.
    key_cache_stale_seconds: float = field(
        default=3600.0,
        metadata=env_var(
            "AIPROXY_KEY_CACHE_STALE_SECONDS", "how long past its TTL a cached key works while the database fails"
        ),
    )
    key_lookup_timeout_seconds: float = field(
        default=5.0,
        metadata=env_var(
            "AIPROXY_KEY_LOOKUP_TIMEOUT_SECONDS", "an uncached key answers 503 when its lookup takes longer"
        ),
    )
    # -- end of database failure handling --------------------------------------

    # A price file (JSON, the format of aiproxy/pricing/prices.json) whose
    # models replace or add to the packaged list prices; None: packaged only.
    prices_file: str | None = field(
        default=None, metadata=env_var("AIPROXY_PRICES_FILE", "a price file replacing or adding to the packaged prices")
    )
    # An output caps file (JSON, the format of aiproxy/model_limits/output_caps.json)
    # whose entries replace or add to the packaged models' output caps, which a
    # translated request's limit is clamped to; None: packaged only.
    output_caps_file: str | None = field(
        default=None,
        metadata=env_var("AIPROXY_OUTPUT_CAPS_FILE", "an output caps file replacing or adding to the packaged caps"),
    )

    # Upstream HTTP.
    connect_timeout: float = field(
        default=10.0, metadata=env_var("AIPROXY_CONNECT_TIMEOUT", "upstream connect timeout, seconds")
    )
    # long generations stream slowly
    read_timeout: float = field(
        default=600.0, metadata=env_var("AIPROXY_READ_TIMEOUT", "upstream read timeout (between bytes), seconds")
    )
    # Hygiene: the largest request body a proxied route reads; beyond it, 413
    # in the caller's shape. The admin API has its own, smaller cap
    # (admin/validation.MAX_BODY_BYTES). A limit of 0 or less, or "32MB", is a
    # mistake worth stopping for.
    max_request_bytes: int = field(
        default=32 * 1024 * 1024,
        metadata=env_var(
            "AIPROXY_MAX_BODY_BYTES", "the largest request body a proxied route reads", minimum=1, unit="bytes"
        ),
    )
    upstream: UpstreamURLs = field(default_factory=UpstreamURLs)
    oauth: OAuthSettings = field(default_factory=OAuthSettings)

    # Request head bounds: a proxied request with
    # more headers, or more bytes of header names and values, is answered 431
    # in its API's shape before any per-header work. Real clients send 10-25
    # headers in 1-4 KiB (Claude Code's long anthropic-beta included); the
    # defaults are Apache's LimitRequestFields and nginx's 4 x 8 KiB
    # large_client_header_buffers.
    max_header_count: int = field(
        default=100, metadata=env_var("AIPROXY_MAX_HEADER_COUNT", "most headers a proxied request may carry")
    )
    max_header_bytes: int = field(
        default=32 * 1024,
        metadata=env_var("AIPROXY_MAX_HEADER_BYTES", "most bytes of header names and values together"),
    )

    # Scheduling. Redis shares account health, concurrency slots and sticky
    # bindings between every worker and instance; without it each process
    # keeps its own, in memory.
    redis_url: str | None = field(default=None, metadata=env_var("REDIS_URL", "the Redis that holds the shared state"))
    # accounts tried per request while nothing was sent yet
    failover_attempts: int = field(
        default=3, metadata=env_var("AIPROXY_FAILOVER_ATTEMPTS", "accounts tried per request while nothing was sent")
    )
    # how long a conversation stays on its account
    sticky_ttl_seconds: float = field(
        default=3600.0, metadata=env_var("AIPROXY_STICKY_TTL_SECONDS", "how long a conversation stays on its account")
    )
    # How long the account that made a stored Responses answer is remembered,
    # so a request naming it in `previous_response_id` goes there (OpenAI keeps
    # stored responses 30 days); 0 turns this off.
    response_account_ttl_seconds: float = field(
        default=30 * 86400.0,
        metadata=env_var("AIPROXY_RESPONSE_ACCOUNT_TTL_SECONDS",
                         "how long the account that made a stored Responses answer is remembered"),
    )
    # Rests when an upstream does not say how long (seconds).
    rate_limit_rest_seconds: float = field(
        default=60.0,
        metadata=env_var("AIPROXY_RATE_LIMIT_REST_SECONDS", "rest of a rate-limited account with no reset time"),
    )
    overload_cooldown_seconds: float = field(
        default=30.0, metadata=env_var("AIPROXY_OVERLOAD_COOLDOWN_SECONDS", "rest after a 529/503 or other 5xx")
    )
    transport_cooldown_seconds: float = field(
        default=15.0,
        metadata=env_var("AIPROXY_TRANSPORT_COOLDOWN_SECONDS", "rest after a timeout or connection failure"),
    )
    # How often accounts in error (bad credentials, 401/403) are tested again;
    # one that answers is put back into rotation.
    error_recheck_seconds: float = field(
        default=300.0, metadata=env_var("AIPROXY_ERROR_RECHECK_SECONDS", "how often accounts in error are tested again")
    )

    # --- admin authentication (login throttle, bounded hashing) ---
    # Failed admin logins per username and per client address, in this
    # process's memory: the first `login_free_failures` cost nothing, then each
    # failure blocks for 1 s, 2 s, 4 s, … up to `login_max_delay_seconds`; a
    # username or address is forgotten `login_failure_window_seconds` after its
    # last failure.
    login_free_failures: int = field(
        default=5, metadata=env_var("AIPROXY_LOGIN_FREE_FAILURES", "failed logins before blocks begin")
    )
    login_max_delay_seconds: float = field(
        default=900.0, metadata=env_var("AIPROXY_LOGIN_MAX_DELAY_SECONDS", "the longest login block")
    )
    login_failure_window_seconds: float = field(
        default=3600.0,
        metadata=env_var("AIPROXY_LOGIN_FAILURE_WINDOW_SECONDS", "failures are forgotten this long after the last"),
    )
    # Argon2 hashes and checks at once (each takes ~64 MiB), and how long one
    # waits for a turn before the call answers 503.
    password_hash_concurrency: int = field(
        default=1, metadata=env_var("AIPROXY_PASSWORD_HASH_CONCURRENCY", "Argon2 hashes and checks at once")
    )
    password_hash_wait_seconds: float = field(
        default=5.0,
        metadata=env_var("AIPROXY_PASSWORD_HASH_WAIT_SECONDS", "wait for a hashing turn before answering 503"),
    )

    # --- Redis failure handling ---------------------------------
    # Each Redis connect and each answer is awaited at most this long; a
    # failure opens a circuit breaker for the cool-down, during which Redis is
    # not tried and state is kept in this process (then one probe).
    redis_timeout_seconds: float = field(
        default=0.5, metadata=env_var("AIPROXY_REDIS_TIMEOUT", "seconds each Redis connect and answer is awaited")
    )
    redis_cooldown_seconds: float = field(
        default=5.0,
        metadata=env_var("AIPROXY_REDIS_COOLDOWN_SECONDS", "after a Redis failure, how long before one probe"),
    )
    # While Redis is unreachable: "open" serves every key on process-local
    # state; "closed" answers 503 to keys with quotas (rpm, concurrency, token
    # or cost limits), as Envoy's rate limit filter does with failure_mode_deny.
    redis_failure_mode: str = field(
        default="open",
        metadata=env_var(
            "AIPROXY_REDIS_FAILURE_MODE",
            "what keys with quotas get while Redis is unreachable",
            choices=("open", "closed"),
        ),
    )
    # Lease of a concurrency slot on Redis, renewed while its request runs, so
    # a slot left by a crashed holder (or a lost answer) comes back this soon.
    slot_lease_seconds: float = field(
        default=30.0, metadata=env_var("AIPROXY_SLOT_LEASE_SECONDS", "lease of a concurrency slot on Redis")
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return read_env(cls, os.environ if env is None else env)


# --- server limits (connection timeouts and caps; read by aiproxy/server_limits.py) ---
@dataclass(frozen=True)
class ServerLimits:
    """How long and how much a client connection may take before the server cuts it.

    Enforced by the HTTP protocol in aiproxy/server_limits.py, below the app: a
    connection that sends nothing never reaches it.
    """

    # From connect (or from the first byte of the next request on a keep-alive
    # connection) until the request head is complete; idle and slow heads alike.
    head_timeout: float = field(
        default=10.0, metadata=env_var("AIPROXY_HEAD_TIMEOUT_SECONDS", "time to send a complete request head")
    )
    # A keep-alive connection with no byte of its next request (uvicorn's timeout_keep_alive).
    keepalive_timeout: float = field(
        default=15.0,
        metadata=env_var("AIPROXY_KEEPALIVE_TIMEOUT_SECONDS", "idle keep-alive connections are closed after"),
    )
    # A request body with no byte received for this long (progress, not total: see docs).
    body_timeout: float = field(
        default=30.0,
        metadata=env_var("AIPROXY_BODY_TIMEOUT_SECONDS", "a request body making no progress this long: 408"),
    )
    # Request line plus headers; beyond it 431 and close, before more is buffered.
    max_head_bytes: int = field(
        default=64 * 1024, metadata=env_var("AIPROXY_MAX_HEAD_BYTES", "most bytes of request line plus headers")
    )
    # Open client connections; beyond it the oldest idle one is closed, or the new one answered 503.
    max_connections: int = field(
        default=4096, metadata=env_var("AIPROXY_MAX_CONNECTIONS", "open client connections at most")
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerLimits:
        return read_env(cls, env)


# --- end server limits ---


# The variables ServerSettings.database_url is composed from: declared here (for
# the docs check and their defaults), read by the code in ServerSettings.from_env.
DATABASE_ENV: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "database_url", "optional str", None, "any database URL; overrides DB_*"),
    Setting("DB_HOST", "database_url", "optional str", None, "when set, use MySQL/MariaDB on this host"),
    Setting("DB_PORT", "database_url", "str", "3306", "MySQL port"),
    Setting("DB_USER", "database_url", "str", "root", "MySQL user"),
    Setting("DB_PASSWORD", "database_url", "str", "", "MySQL password"),
    Setting("DB_NAME", "database_url", "str", "aiproxy", "MySQL database"),
)
_DB_DEFAULT = {s.env: s.default for s in DATABASE_ENV}


@dataclass
class ServerSettings:
    """What only the standalone server needs: where to listen, which database, connection limits."""

    host: str = field(default="0.0.0.0", metadata=env_var("HOST", "address to listen on"))
    port: int = field(default=8080, metadata=env_var("PORT", "port to listen on"))
    # More than one needs REDIS_URL: server.py refuses to start without it.
    workers: int = field(
        default=1, metadata=env_var("WORKERS", "uvicorn worker processes serving the port", minimum=1)
    )
    # From DATABASE_URL or DB_* (DATABASE_ENV), else SQLite in data_dir: see from_env.
    database_url: str = "sqlite+aiosqlite:///aiproxy.db"
    data_dir: str = field(
        default=".", metadata=env_var("AIPROXY_DATA_DIR", "where the SQLite file and the generated secrets live")
    )
    limits: ServerLimits = field(default_factory=ServerLimits)  # server limits

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if env is None else env
        s = read_env(cls, env)
        if env.get("DATABASE_URL"):
            s.database_url = env["DATABASE_URL"]
        elif env.get("DB_HOST"):
            user = quote(env.get("DB_USER", _DB_DEFAULT["DB_USER"]), safe="")
            password = quote(env.get("DB_PASSWORD", _DB_DEFAULT["DB_PASSWORD"]), safe="")
            port = env.get("DB_PORT", _DB_DEFAULT["DB_PORT"])
            name = env.get("DB_NAME", _DB_DEFAULT["DB_NAME"])
            s.database_url = f"mysql+asyncmy://{user}:{password}@{env['DB_HOST']}:{port}/{name}"
        else:
            s.database_url = f"sqlite+aiosqlite:///{os.path.join(s.data_dir, 'aiproxy.db')}"
        return s


def all_settings() -> tuple[Setting, ...]:
    """Every environment variable the gateway's settings read: what docs/configuration.md documents."""
    return declared(Settings) + declared(ServerSettings) + DATABASE_ENV
