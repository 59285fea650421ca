"""Run the gateway standalone: `python server.py`.

Configuration comes from the environment (see docs/configuration.md): PORT,
DB_HOST/DB_PORT/DB_USER/DB_PASSWORD/DB_NAME for MySQL or MariaDB, DATABASE_URL
to name any database, and without either an SQLite file in AIPROXY_DATA_DIR.
"""

from __future__ import annotations

import logging
import os

import uvicorn

from aiproxy import ServerSettings, Settings, create_app
from aiproxy.security.secrets_file import load_or_create_secrets
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
    uvicorn.run(app, host=server.host, port=server.port, log_level=os.environ.get("LOG_LEVEL", "info").lower())


if __name__ == "__main__":
    main()
