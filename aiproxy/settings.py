"""Every setting of the gateway, and the one place they are read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import quote


@dataclass
class UpstreamURLs:
    """Official endpoints, overridable for tests and for users behind their own mirrors."""

    anthropic: str = "https://api.anthropic.com"
    openai: str = "https://api.openai.com"  # without /v1: routes add it
    gemini: str = "https://generativelanguage.googleapis.com"  # without /v1beta: routes add it
    # Bedrock runtime, per account region ("{region}" is replaced); an account's base_url overrides it.
    bedrock: str = "https://bedrock-runtime.{region}.amazonaws.com"
    # Code Assist, the API behind Gemini CLI's "Login with Google" (gemini-oauth accounts).
    code_assist: str = "https://cloudcode-pa.googleapis.com"
    # The ChatGPT backend Codex CLI talks to with a ChatGPT (subscription) login;
    # `openai-responses` accounts logged in by OAuth POST to {codex}/responses.
    codex: str = "https://chatgpt.com/backend-api/codex"


@dataclass
class OAuthSettings:
    """OAuth logins of subscription accounts: the providers' URLs (overridable for
    tests and mirrors; client ids and scopes live in aiproxy.oauth.providers) and
    how tokens are kept fresh."""

    claude_authorize_url: str = "https://claude.ai/oauth/authorize"
    claude_token_url: str = "https://platform.claude.com/v1/oauth/token"
    claude_redirect_uri: str = "https://platform.claude.com/oauth/code/callback"
    # Gemini CLI's "Login with Google" (gemini-oauth accounts). The client is
    # gemini-cli's installed-app client, whose id and (non-secret) secret are in
    # its source; they are not shipped here: set them, or logins and refreshes
    # answer which setting is missing. The redirect is gemini-cli's user-code
    # page, which shows the code to paste back.
    gemini_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    gemini_token_url: str = "https://oauth2.googleapis.com/token"
    gemini_client_id: str = ""
    gemini_client_secret: str = ""
    gemini_redirect_uri: str = "https://codeassist.google.com/authcode"
    # ChatGPT/Codex logins (openai-responses accounts), as Codex CLI does them.
    openai_authorize_url: str = "https://auth.openai.com/oauth/authorize"
    openai_token_url: str = "https://auth.openai.com/oauth/token"
    openai_redirect_uri: str = "http://localhost:1455/auth/callback"
    # An access token is refreshed when it expires within this many seconds,
    # so a long request never starts with a token about to die.
    refresh_skew_seconds: float = 300.0
    # How long a started authorization waits for its code to be pasted back.
    session_ttl_seconds: float = 600.0


@dataclass
class Settings:
    # Secrets. None means "generate for this process only": fine for tests and
    # in-memory embedding; a persistent deployment must pass stable values
    # (server.py keeps them in a file beside the data).
    jwt_secret: str | None = None
    encryption_key: str | None = None

    admin_username: str = "admin"
    admin_password: str = "admin123"
    jwt_ttl_seconds: int = 24 * 3600

    # Key cache: how long a looked-up key is trusted before it is read again.
    # Changes made through this process invalidate at once; the TTL bounds how
    # long another instance's change takes to be seen here.
    key_cache_ttl: float = 30.0
    key_cache_negative_ttl: float = 5.0
    # How often the account pool re-reads accounts (other instances' edits).
    account_refresh_seconds: float = 30.0

    # Usage records go to the store in batches, off the request path.
    usage_batch_size: int = 200
    usage_flush_seconds: float = 1.0

    # -- Database failure handling -----------------------
    # While the store fails, usage records wait in memory, up to this many...
    usage_buffer_records: int = 10_000
    # ...then are spilled to JSON-lines files here and written back once the
    # store answers (at the next start too). None: no spool, the oldest records
    # are dropped beyond the buffer. server.py sets <AIPROXY_DATA_DIR>/usage-spool.
    usage_spool_dir: str | None = None
    # Retries of a failing store: this delay, doubled per failure up to the cap, jittered.
    usage_backoff_initial_seconds: float = 0.5
    usage_backoff_max_seconds: float = 30.0
    # At shutdown, how long the last write may take before the rest is spilled.
    usage_shutdown_seconds: float = 10.0
    # An admin API call whose database reads or writes take longer answers 503.
    admin_db_timeout_seconds: float = 5.0
    # While the key store fails, a cached key keeps working this long past its TTL;
    # a key not in memory answers 503 when the store fails or takes longer than the timeout.
    key_cache_stale_seconds: float = 3600.0
    key_lookup_timeout_seconds: float = 5.0
    # -- end of database failure handling --------------------------------------

    # A price file (JSON, the format of aiproxy/pricing/prices.json) whose
    # models replace or add to the packaged list prices; None: packaged only.
    prices_file: str | None = None

    # Upstream HTTP.
    connect_timeout: float = 10.0
    read_timeout: float = 600.0  # long generations stream slowly
    # Hygiene: the largest request body a proxied route reads
    # (AIPROXY_MAX_BODY_BYTES); beyond it, 413 in the caller's shape. The
    # admin API has its own, smaller cap (admin/validation.MAX_BODY_BYTES).
    max_request_bytes: int = 32 * 1024 * 1024
    upstream: UpstreamURLs = field(default_factory=UpstreamURLs)
    oauth: OAuthSettings = field(default_factory=OAuthSettings)

    # Request head bounds: a proxied request with
    # more headers, or more bytes of header names and values, is answered 431
    # in its API's shape before any per-header work. Real clients send 10-25
    # headers in 1-4 KiB (Claude Code's long anthropic-beta included); the
    # defaults are Apache's LimitRequestFields and nginx's 4 x 8 KiB
    # large_client_header_buffers.
    max_header_count: int = 100
    max_header_bytes: int = 32 * 1024

    # Scheduling. Redis shares account health, concurrency slots and sticky
    # bindings between every worker and instance; without it each process
    # keeps its own, in memory.
    redis_url: str | None = None
    failover_attempts: int = 3  # accounts tried per request while nothing was sent yet
    sticky_ttl_seconds: float = 3600.0  # how long a conversation stays on its account
    # Rests when an upstream does not say how long (seconds).
    rate_limit_rest_seconds: float = 60.0
    overload_cooldown_seconds: float = 30.0
    transport_cooldown_seconds: float = 15.0
    # How often accounts in error (bad credentials, 401/403) are tested again;
    # one that answers is put back into rotation.
    error_recheck_seconds: float = 300.0

    # --- admin authentication (login throttle, bounded hashing) ---
    # Failed admin logins per username and per client address, in this
    # process's memory: the first `login_free_failures` cost nothing, then each
    # failure blocks for 1 s, 2 s, 4 s, … up to `login_max_delay_seconds`; a
    # username or address is forgotten `login_failure_window_seconds` after its
    # last failure.
    login_free_failures: int = 5
    login_max_delay_seconds: float = 900.0
    login_failure_window_seconds: float = 3600.0
    # Argon2 hashes and checks at once (each takes ~64 MiB), and how long one
    # waits for a turn before the call answers 503.
    password_hash_concurrency: int = 1
    password_hash_wait_seconds: float = 5.0

    # --- Redis failure handling ---------------------------------
    # Each Redis connect and each answer is awaited at most this long; a
    # failure opens a circuit breaker for the cool-down, during which Redis is
    # not tried and state is kept in this process (then one probe).
    redis_timeout_seconds: float = 0.5
    redis_cooldown_seconds: float = 5.0
    # While Redis is unreachable: "open" serves every key on process-local
    # state; "closed" answers 503 to keys with quotas (rpm, concurrency, token
    # or cost limits), as Envoy's rate limit filter does with failure_mode_deny.
    redis_failure_mode: str = "open"
    # Lease of a concurrency slot on Redis, renewed while its request runs, so
    # a slot left by a crashed holder (or a lost answer) comes back this soon.
    slot_lease_seconds: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        s = cls()
        s.jwt_secret = env.get("AIPROXY_JWT_SECRET") or None
        s.encryption_key = env.get("AIPROXY_ENCRYPTION_KEY") or None
        s.admin_username = env.get("AIPROXY_ADMIN_USERNAME", s.admin_username)
        s.admin_password = env.get("AIPROXY_ADMIN_PASSWORD", s.admin_password)
        floats = {
            "AIPROXY_KEY_CACHE_TTL": "key_cache_ttl",
            "AIPROXY_ACCOUNT_REFRESH_SECONDS": "account_refresh_seconds",
            "AIPROXY_USAGE_FLUSH_SECONDS": "usage_flush_seconds",
            "AIPROXY_CONNECT_TIMEOUT": "connect_timeout",
            "AIPROXY_READ_TIMEOUT": "read_timeout",
            "AIPROXY_STICKY_TTL_SECONDS": "sticky_ttl_seconds",
            "AIPROXY_RATE_LIMIT_REST_SECONDS": "rate_limit_rest_seconds",
            "AIPROXY_OVERLOAD_COOLDOWN_SECONDS": "overload_cooldown_seconds",
            "AIPROXY_TRANSPORT_COOLDOWN_SECONDS": "transport_cooldown_seconds",
            "AIPROXY_ERROR_RECHECK_SECONDS": "error_recheck_seconds",
            "AIPROXY_USAGE_BACKOFF_INITIAL_SECONDS": "usage_backoff_initial_seconds",
            "AIPROXY_USAGE_BACKOFF_MAX_SECONDS": "usage_backoff_max_seconds",
            "AIPROXY_USAGE_SHUTDOWN_SECONDS": "usage_shutdown_seconds",
            "AIPROXY_ADMIN_DB_TIMEOUT_SECONDS": "admin_db_timeout_seconds",
            "AIPROXY_KEY_CACHE_STALE_SECONDS": "key_cache_stale_seconds",
            "AIPROXY_KEY_LOOKUP_TIMEOUT_SECONDS": "key_lookup_timeout_seconds",
        }
        for var, attr in floats.items():
            if env.get(var):
                setattr(s, attr, float(env[var]))
        # Hygiene: the request body limit.
        if env.get("AIPROXY_MAX_BODY_BYTES"):
            s.max_request_bytes = _positive_int(env, "AIPROXY_MAX_BODY_BYTES")

        # Database failure handling: the floats are in `floats` above.
        if env.get("AIPROXY_USAGE_BUFFER_RECORDS"):
            s.usage_buffer_records = int(env["AIPROXY_USAGE_BUFFER_RECORDS"])
        s.usage_spool_dir = env.get("AIPROXY_USAGE_SPOOL_DIR") or None
        s.redis_url = env.get("REDIS_URL") or None
        # --- Redis failure handling ---
        if env.get("AIPROXY_REDIS_TIMEOUT"):
            s.redis_timeout_seconds = float(env["AIPROXY_REDIS_TIMEOUT"])
        if env.get("AIPROXY_REDIS_COOLDOWN_SECONDS"):
            s.redis_cooldown_seconds = float(env["AIPROXY_REDIS_COOLDOWN_SECONDS"])
        if env.get("AIPROXY_REDIS_FAILURE_MODE"):
            mode = env["AIPROXY_REDIS_FAILURE_MODE"].strip().lower()
            if mode not in ("open", "closed"):
                raise ValueError(f"AIPROXY_REDIS_FAILURE_MODE must be open or closed, not {mode!r}")
            s.redis_failure_mode = mode
        if env.get("AIPROXY_SLOT_LEASE_SECONDS"):
            s.slot_lease_seconds = float(env["AIPROXY_SLOT_LEASE_SECONDS"])
        # --- end of Redis failure handling ---
        s.prices_file = env.get("AIPROXY_PRICES_FILE") or None
        if env.get("AIPROXY_FAILOVER_ATTEMPTS"):
            s.failover_attempts = int(env["AIPROXY_FAILOVER_ATTEMPTS"])
        # Request head bounds.
        if env.get("AIPROXY_MAX_HEADER_COUNT"):
            s.max_header_count = int(env["AIPROXY_MAX_HEADER_COUNT"])
        if env.get("AIPROXY_MAX_HEADER_BYTES"):
            s.max_header_bytes = int(env["AIPROXY_MAX_HEADER_BYTES"])
        if env.get("AIPROXY_JWT_TTL_SECONDS"):
            s.jwt_ttl_seconds = int(env["AIPROXY_JWT_TTL_SECONDS"])
        if env.get("AIPROXY_ANTHROPIC_BASE_URL"):
            s.upstream.anthropic = env["AIPROXY_ANTHROPIC_BASE_URL"]
        if env.get("AIPROXY_OPENAI_BASE_URL"):
            s.upstream.openai = env["AIPROXY_OPENAI_BASE_URL"]
        if env.get("AIPROXY_GEMINI_BASE_URL"):
            s.upstream.gemini = env["AIPROXY_GEMINI_BASE_URL"]
        if env.get("AIPROXY_BEDROCK_BASE_URL"):
            s.upstream.bedrock = env["AIPROXY_BEDROCK_BASE_URL"]
        if env.get("AIPROXY_CODE_ASSIST_BASE_URL"):
            s.upstream.code_assist = env["AIPROXY_CODE_ASSIST_BASE_URL"]
        if env.get("AIPROXY_CODEX_BASE_URL"):
            s.upstream.codex = env["AIPROXY_CODEX_BASE_URL"]
        oauth_urls = {
            "AIPROXY_CLAUDE_OAUTH_AUTHORIZE_URL": "claude_authorize_url",
            "AIPROXY_CLAUDE_OAUTH_TOKEN_URL": "claude_token_url",
            "AIPROXY_CLAUDE_OAUTH_REDIRECT_URI": "claude_redirect_uri",
            "AIPROXY_GEMINI_OAUTH_AUTHORIZE_URL": "gemini_authorize_url",
            "AIPROXY_GEMINI_OAUTH_TOKEN_URL": "gemini_token_url",
            "AIPROXY_GEMINI_OAUTH_CLIENT_ID": "gemini_client_id",
            "AIPROXY_GEMINI_OAUTH_CLIENT_SECRET": "gemini_client_secret",
            "AIPROXY_GEMINI_OAUTH_REDIRECT_URI": "gemini_redirect_uri",
            "AIPROXY_OPENAI_OAUTH_AUTHORIZE_URL": "openai_authorize_url",
            "AIPROXY_OPENAI_OAUTH_TOKEN_URL": "openai_token_url",
            "AIPROXY_OPENAI_OAUTH_REDIRECT_URI": "openai_redirect_uri",
        }
        for var, attr in oauth_urls.items():
            if env.get(var):
                setattr(s.oauth, attr, env[var])
        if env.get("AIPROXY_OAUTH_REFRESH_SKEW_SECONDS"):
            s.oauth.refresh_skew_seconds = float(env["AIPROXY_OAUTH_REFRESH_SKEW_SECONDS"])
        if env.get("AIPROXY_OAUTH_SESSION_TTL_SECONDS"):
            s.oauth.session_ttl_seconds = float(env["AIPROXY_OAUTH_SESSION_TTL_SECONDS"])
        # --- admin authentication ---
        if env.get("AIPROXY_LOGIN_FREE_FAILURES"):
            s.login_free_failures = int(env["AIPROXY_LOGIN_FREE_FAILURES"])
        if env.get("AIPROXY_LOGIN_MAX_DELAY_SECONDS"):
            s.login_max_delay_seconds = float(env["AIPROXY_LOGIN_MAX_DELAY_SECONDS"])
        if env.get("AIPROXY_LOGIN_FAILURE_WINDOW_SECONDS"):
            s.login_failure_window_seconds = float(env["AIPROXY_LOGIN_FAILURE_WINDOW_SECONDS"])
        if env.get("AIPROXY_PASSWORD_HASH_CONCURRENCY"):
            s.password_hash_concurrency = int(env["AIPROXY_PASSWORD_HASH_CONCURRENCY"])
        if env.get("AIPROXY_PASSWORD_HASH_WAIT_SECONDS"):
            s.password_hash_wait_seconds = float(env["AIPROXY_PASSWORD_HASH_WAIT_SECONDS"])
        return s


# --- server limits (connection timeouts and caps; read by aiproxy/server_limits.py) ---
@dataclass(frozen=True)
class ServerLimits:
    """How long and how much a client connection may take before the server cuts it.

    Enforced by the HTTP protocol in aiproxy/server_limits.py, below the app: a
    connection that sends nothing never reaches it.
    """

    # From connect (or from the first byte of the next request on a keep-alive
    # connection) until the request head is complete; idle and slow heads alike.
    head_timeout: float = 10.0
    # A keep-alive connection with no byte of its next request (uvicorn's timeout_keep_alive).
    keepalive_timeout: float = 15.0
    # A request body with no byte received for this long (progress, not total: see docs).
    body_timeout: float = 30.0
    # Request line plus headers; beyond it 431 and close, before more is buffered.
    max_head_bytes: int = 64 * 1024
    # Open client connections; beyond it the oldest idle one is closed, or the new one answered 503.
    max_connections: int = 4096

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerLimits:
        d = cls()
        return cls(
            head_timeout=float(env.get("AIPROXY_HEAD_TIMEOUT_SECONDS", d.head_timeout)),
            keepalive_timeout=float(env.get("AIPROXY_KEEPALIVE_TIMEOUT_SECONDS", d.keepalive_timeout)),
            body_timeout=float(env.get("AIPROXY_BODY_TIMEOUT_SECONDS", d.body_timeout)),
            max_head_bytes=int(env.get("AIPROXY_MAX_HEAD_BYTES", d.max_head_bytes)),
            max_connections=int(env.get("AIPROXY_MAX_CONNECTIONS", d.max_connections)),
        )


# --- end server limits ---

def _positive_int(env: Mapping[str, str], var: str) -> int:
    # Hygiene: a limit of 0 or less, or "32MB", is a mistake worth stopping for.
    try:
        value = int(env[var])
    except ValueError:
        raise ValueError(f"{var} must be a whole number of bytes, not {env[var]!r}") from None
    if value < 1:
        raise ValueError(f"{var} must be at least 1, not {value}")
    return value


@dataclass
class ServerSettings:
    """What only the standalone server needs: where to listen, which database, connection limits."""

    host: str = "0.0.0.0"
    port: int = 8080
    database_url: str = "sqlite+aiosqlite:///aiproxy.db"
    data_dir: str = "."
    limits: ServerLimits = field(default_factory=ServerLimits)  # server limits

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if env is None else env
        s = cls()
        s.host = env.get("HOST", s.host)
        s.port = int(env.get("PORT", s.port))
        s.data_dir = env.get("AIPROXY_DATA_DIR", s.data_dir)
        s.limits = ServerLimits.from_env(env)  # server limits
        if env.get("DATABASE_URL"):
            s.database_url = env["DATABASE_URL"]
        elif env.get("DB_HOST"):
            user = quote(env.get("DB_USER", "root"), safe="")
            password = quote(env.get("DB_PASSWORD", ""), safe="")
            s.database_url = (
                f"mysql+asyncmy://{user}:{password}@{env['DB_HOST']}:{env.get('DB_PORT', '3306')}"
                f"/{env.get('DB_NAME', 'aiproxy')}"
            )
        else:
            s.database_url = f"sqlite+aiosqlite:///{os.path.join(s.data_dir, 'aiproxy.db')}"
        return s
