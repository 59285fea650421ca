"""Run the gateway standalone: `python server.py`.

Configuration comes from the environment (see docs/configuration.md): PORT,
DB_HOST/DB_PORT/DB_USER/DB_PASSWORD/DB_NAME for MySQL or MariaDB, DATABASE_URL
to name any database, and without either an SQLite file in AIPROXY_DATA_DIR.
Connection timeouts and caps (AIPROXY_HEAD_TIMEOUT_SECONDS and friends) are
enforced by the HTTP protocol from aiproxy.server_limits.
"""

from __future__ import annotations

import gc
import logging
import os

import uvicorn

from aiproxy import ServerSettings, Settings, create_app
from aiproxy.security.secrets_file import load_or_create_secrets
from aiproxy.server_limits import fit_to_descriptors, redact_access_log, uvicorn_options
from aiproxy.stores.sql import SQLStores


def build_app(env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    env = dict(os.environ if env is None else env)
    server = ServerSettings.from_env(env)
    settings = Settings.from_env(env)
    if settings.jwt_secret is None or settings.encryption_key is None:
        # Generated once and kept beside the data, so a restart keeps admin
        # sessions and can still decrypt the stored upstream credentials.
        persisted = load_or_create_secrets(server.data_dir)
        settings.jwt_secret = settings.jwt_secret or persisted["jwt_secret"]
        settings.encryption_key = settings.encryption_key or persisted["encryption_key"]
    # Usage records the database cannot take yet wait beside the data.
    settings.usage_spool_dir = settings.usage_spool_dir or os.path.join(server.data_dir, "usage-spool")
    return create_app(SQLStores(server.database_url), settings), server


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app, server = build_app()
    # What is imported and built by now lives as long as the process: keep it
    # out of the collector's full passes, each of which walked all of it (~75k
    # objects, 40 ms of CPU) with every request waiting; a header flood's
    # allocations set one off.
    gc.freeze()
    limits = fit_to_descriptors(server.limits)
    config = uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
        **uvicorn_options(limits),
    )
    redact_access_log()  # after Config, which sets up uvicorn's loggers
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
