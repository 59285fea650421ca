"""Run the gateway standalone: `python server.py [--workers N]`.

Configuration comes from the environment (see docs/configuration.md): PORT,
DB_HOST/DB_PORT/DB_USER/DB_PASSWORD/DB_NAME for MySQL or MariaDB, DATABASE_URL
to name any database, and without either an SQLite file in AIPROXY_DATA_DIR.
Connection timeouts and caps (AIPROXY_HEAD_TIMEOUT_SECONDS and friends) are
enforced by the HTTP protocol from aiproxy.server_limits, in each worker.

WORKERS (or --workers) above 1 runs that many uvicorn worker processes on the
one port, each building the app from the environment (`app_factory`) and
running the gateway's lifespan of its own. That needs REDIS_URL: the
scheduler's marks and slots and the keys' quota counters live there, and
without it each process would keep its own. `/metrics` answers for all the
workers together: prometheus_client's multiprocess mode, in a private
directory made for this start and removed at its end.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from aiproxy import ServerSettings, Settings, create_app
from aiproxy.security.secrets_file import load_or_create_secrets
from aiproxy.server_limits import LimitedConfig, fit_to_descriptors
from aiproxy.stores.sql import SQLStores
from aiproxy.usage.metrics import MULTIPROC_ENV


def build_app(env: dict[str, str] | None = None) -> tuple[Starlette, ServerSettings]:
    env = dict(os.environ if env is None else env)
    server = ServerSettings.from_env(env)
    settings = Settings.from_env(env)
    if settings.jwt_secret is None or settings.encryption_key is None:
        # Generated once and kept beside the data, so a restart keeps admin
        # sessions and can still decrypt the stored upstream credentials.
        # (Workers starting together agree on one file: see load_or_create_secrets.)
        persisted = load_or_create_secrets(server.data_dir)
        settings.jwt_secret = settings.jwt_secret or persisted["jwt_secret"]
        settings.encryption_key = settings.encryption_key or persisted["encryption_key"]
    # Usage records the database cannot take yet wait beside the data.
    settings.usage_spool_dir = settings.usage_spool_dir or os.path.join(server.data_dir, "usage-spool")
    return create_app(SQLStores(server.database_url), settings), server


def app_factory() -> Starlette:
    """What each worker process serves (uvicorn's factory, called in the worker)."""
    configure_logging()
    app, _ = build_app()
    freeze_startup_objects()
    return app


def configure_logging() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def freeze_startup_objects() -> None:
    # What is imported and built by now lives as long as the process: keep it
    # out of the collector's full passes, each of which walked all of it (~75k
    # objects, 40 ms of CPU) with every request waiting; a header flood's
    # allocations set one off.
    gc.freeze()


def refusal(server: ServerSettings, settings: Settings) -> str | None:
    """Why this configuration may not start, or None."""
    if server.workers > 1 and not settings.redis_url:
        return (
            f"{server.workers} workers (WORKERS, --workers) need REDIS_URL: without Redis each worker process keeps its own account "
            "health marks, concurrency slots, sticky sessions, rate windows and quota counters, so an account "
            "rate limited on one worker would be tried again on the next, and every key's limits would hold per "
            "process, not per server. Set REDIS_URL, or run one worker."
        )
    return None


@contextlib.contextmanager
def private_metrics_dir() -> Iterator[str]:
    """A fresh directory for the workers' metric files, named in the environment they inherit.

    Fresh for each start: files left by an earlier run would be added to this
    one's counters. prometheus_client reads the variable at its import, which in
    each worker comes after the worker process starts with this environment.
    """
    directory = tempfile.mkdtemp(prefix="aiproxy-metrics-")  # mode 0700
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the aiproxy gateway; settings come from the environment.")
    parser.add_argument("--workers", type=int, help="worker processes (overrides WORKERS; more than 1 needs REDIS_URL)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    configure_logging()
    args = parse_args(argv)
    env = dict(os.environ)
    if args.workers is not None:
        env["WORKERS"] = str(args.workers)
    server, settings = ServerSettings.from_env(env), Settings.from_env(env)
    refused = refusal(server, settings)
    if refused is not None:
        sys.exit(f"aiproxy: {refused}")
    limits = fit_to_descriptors(server.limits)  # inherited by the workers: the open-file limit, and the cap per worker
    options: dict[str, Any] = {"host": server.host, "port": server.port, "log_level": os.environ.get("LOG_LEVEL", "info").lower()}
    if server.workers == 1:
        app, _ = build_app(env)
        freeze_startup_objects()
        uvicorn.Server(LimitedConfig(app, limits=limits, **options)).run()
        return
    with private_metrics_dir():
        config = LimitedConfig("server:app_factory", factory=True, workers=server.workers, limits=limits, **options)
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        # uvicorn's supervisor stops when a worker cannot start (the database
        # unreachable, the port taken) but returns as if all went well.
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
