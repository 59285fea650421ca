"""The settings' one declaration (aiproxy/settings.py) against docs/configuration.md and from_env."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from aiproxy.settings import (
    DATABASE_ENV,
    OAuthSettings,
    ServerLimits,
    ServerSettings,
    Setting,
    Settings,
    UpstreamURLs,
    all_settings,
    declared,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

# Environment variables the page names that are not aiproxy settings, and why.
NOT_SETTINGS = {
    "LOG_LEVEL": "read by server.py's logging setup, not a Settings field",
    "PROMETHEUS_MULTIPROC_DIR": "prometheus_client's own variable (server.py sets it for its workers)",
    "FORWARDED_ALLOW_IPS": "uvicorn's own trusted-proxy variable",
    "HTTP_PROXY": "named as not used for upstream requests",
    "HTTPS_PROXY": "named as not used for upstream requests",
    "ALL_PROXY": "named as not used for upstream requests",
    "OAUTH_CLIENT_ID": "a constant in Gemini CLI's source",
    "OAUTH_CLIENT_SECRET": "a constant in Gemini CLI's source",
    "NO_BROWSER": "Gemini CLI's variable",
}
# Defaults the page gives as server.py's rather than the library's (the row says both).
SERVER_DEFAULTS = {"AIPROXY_USAGE_SPOOL_DIR": "$AIPROXY_DATA_DIR/usage-spool"}
NO_VALUE = {"unset", "–", "empty"}  # how the page writes a default of None or ""

ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


def doc_tables(text: str) -> dict[str, str | None]:
    """Each variable in the page's `| variable | ... |` tables -> its default cell (None: no default column)."""
    rows: dict[str, str | None] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if header[0] != "variable" or set(cells[0]) <= {"-"}:
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        if "default" not in header:
            rows.update(dict.fromkeys(names))
            continue
        default = cells[header.index("default")]
        # `A` / `B` | `a` / `b`: one row for two variables.
        defaults = default.split(" / ") if len(names) > 1 else [default]
        assert len(defaults) == len(names), line
        rows.update(zip(names, defaults))
    return rows


def doc_names(text: str) -> set[str]:
    """Every environment variable the page names: in its tables, and in `code` anywhere."""
    names = set(doc_tables(text))
    for code in re.findall(r"`([^`]+)`", text):
        names.update(ENV_NAME.findall(code))
    names.update(re.findall(r"\b(?:AIPROXY|DB)_[A-Z0-9_]+\b", text))
    return names


def as_written(default: Any) -> str:
    """A default as the page writes it: 30.0 as `30`, 0.5 as `0.5`."""
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_every_setting_is_documented_with_its_default() -> None:
    text = DOC.read_text()
    tables = doc_tables(text)
    for s in all_settings():
        assert re.search(rf"\b{s.env}\b", text), f"{s.env} ({s.attr}) is not in docs/configuration.md"
        cell = tables.get(s.env)
        if cell is None:  # named in prose or in a table without defaults
            continue
        if s.env in SERVER_DEFAULTS:
            assert f"`{SERVER_DEFAULTS[s.env]}`" in cell, (s.env, cell)
        elif s.default in (None, ""):
            assert cell in NO_VALUE, f"{s.env}: the page says {cell!r}, the default is {s.default!r}"
        else:
            written = re.match(r"`([^`]*)`", cell)
            assert written, f"{s.env}: the page's default {cell!r} is not `code`"
            assert written.group(1) == as_written(s.default), (
                f"{s.env}: the page says {cell}, the default is {s.default!r}"
            )


def test_every_variable_the_page_names_is_declared() -> None:
    names = doc_names(DOC.read_text())
    undeclared = names - {s.env for s in all_settings()} - set(NOT_SETTINGS)
    assert not undeclared, f"docs/configuration.md names variables no setting declares: {sorted(undeclared)}"


def test_the_doc_parser_sees_the_tables() -> None:
    # So the checks above cannot pass by reading nothing.
    tables = doc_tables(DOC.read_text())
    assert tables["AIPROXY_ADMIN_PASSWORD"] == "`admin123`"
    assert tables["AIPROXY_MAX_HEAD_BYTES"] == "`65536`"
    assert "AIPROXY_JWT_SECRET" in tables and tables["AIPROXY_JWT_SECRET"] is None
    assert len(tables) >= 60


def test_each_variable_is_declared_once() -> None:
    envs = [s.env for s in all_settings()]
    assert len(envs) == len(set(envs))
    attrs = [s.attr for s in all_settings() if s not in DATABASE_ENV]
    assert len(attrs) == len(set(attrs))


def test_the_declared_defaults_are_the_fields_defaults() -> None:
    for cls in (Settings, ServerSettings):
        instance = cls()
        for s in declared(cls):
            assert attr(instance, s.attr) == s.default, s


def test_from_env_on_nothing_is_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()
    assert ServerLimits.from_env({}) == ServerLimits()
    server = ServerSettings.from_env({})
    assert dataclasses.replace(server, database_url=ServerSettings().database_url) == ServerSettings()
    assert server.database_url == "sqlite+aiosqlite:///./aiproxy.db"


def test_empty_variables_keep_the_defaults() -> None:
    empty = {s.env: "" for s in all_settings()}
    assert Settings.from_env(empty) == Settings()
    assert ServerSettings.from_env(empty) == ServerSettings.from_env({})


def attr(obj: object, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def another_value(s: Setting) -> tuple[str, Any]:
    """A value for `s` other than its default: (as the environment spells it, as parsed)."""
    if s.kind == "int":
        return str(s.default + 7), s.default + 7
    if s.kind == "float":
        return str(s.default + 1.5), s.default + 1.5
    if s.kind == "choice":
        other = next(c for c in s.choices if c != s.default)
        return f" {other.upper()} ", other
    return f"/set/{s.env.lower()}", f"/set/{s.env.lower()}"


@pytest.mark.parametrize("cls", [Settings, ServerSettings], ids=lambda c: c.__name__)
def test_each_variable_sets_the_attribute_it_names(cls: type[Settings | ServerSettings]) -> None:
    baseline = dataclasses.asdict(cls.from_env({}))
    for s in declared(cls):
        raw, value = another_value(s)
        got = cls.from_env({s.env: raw})
        assert attr(got, s.attr) == value, s
        changed = {k for k, v in flatten(dataclasses.asdict(got)).items() if flatten(baseline)[k] != v}
        # Only that attribute (and, for the data directory, the SQLite path in it).
        assert changed - {"database_url"} == {s.attr}, (s.env, changed)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_nested_settings_are_declared_with_dotted_attributes() -> None:
    attrs = {s.env: s.attr for s in all_settings()}
    assert attrs["AIPROXY_ANTHROPIC_BASE_URL"] == "upstream.anthropic"
    assert attrs["AIPROXY_CLAUDE_OAUTH_TOKEN_URL"] == "oauth.claude_token_url"
    assert attrs["AIPROXY_HEAD_TIMEOUT_SECONDS"] == "limits.head_timeout"
    # Every field the environment sets in the nested classes is reached.
    assert {s.attr for s in declared(UpstreamURLs)} == {f.name for f in dataclasses.fields(UpstreamURLs)}
    assert {s.attr for s in declared(OAuthSettings)} == {f.name for f in dataclasses.fields(OAuthSettings)}
    assert {s.attr for s in declared(ServerLimits)} == {f.name for f in dataclasses.fields(ServerLimits)}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AIPROXY_MAX_BODY_BYTES": "32MB"}, "AIPROXY_MAX_BODY_BYTES must be a whole number of bytes, not '32MB'"),
        ({"AIPROXY_MAX_BODY_BYTES": "0"}, "AIPROXY_MAX_BODY_BYTES must be at least 1, not 0"),
        ({"AIPROXY_REDIS_FAILURE_MODE": "Deny"}, "AIPROXY_REDIS_FAILURE_MODE must be open or closed, not 'deny'"),
        ({"AIPROXY_READ_TIMEOUT": "10s"}, "AIPROXY_READ_TIMEOUT must be a number, not '10s'"),
        ({"AIPROXY_FAILOVER_ATTEMPTS": "2.5"}, "AIPROXY_FAILOVER_ATTEMPTS must be a whole number, not '2.5'"),
        ({"AIPROXY_OAUTH_SESSION_TTL_SECONDS": "ten"}, "AIPROXY_OAUTH_SESSION_TTL_SECONDS must be a number, not 'ten'"),
    ],
)
def test_a_bad_value_stops_startup_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "PORT must be a whole number, not 'http'"),
        ({"AIPROXY_MAX_CONNECTIONS": "many"}, "AIPROXY_MAX_CONNECTIONS must be a whole number, not 'many'"),
        ({"AIPROXY_HEAD_TIMEOUT_SECONDS": "1m"}, "AIPROXY_HEAD_TIMEOUT_SECONDS must be a number, not '1m'"),
    ],
)
def test_a_bad_server_value_stops_startup_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        ServerSettings.from_env(env)
    assert str(caught.value) == message


def test_the_database_url_is_composed_from_its_variables() -> None:
    assert ServerSettings.from_env({"AIPROXY_DATA_DIR": "/var/lib/aiproxy"}).database_url == (
        "sqlite+aiosqlite:////var/lib/aiproxy/aiproxy.db"
    )
    assert ServerSettings.from_env({"DB_HOST": "db"}).database_url == "mysql+asyncmy://root:@db:3306/aiproxy"
    assert (
        ServerSettings.from_env(
            {"DB_HOST": "db", "DB_PORT": "3307", "DB_USER": "gw", "DB_PASSWORD": "p@ss/w:rd", "DB_NAME": "gw"}
        ).database_url
        == "mysql+asyncmy://gw:p%40ss%2Fw%3Ard@db:3307/gw"
    )
    # DATABASE_URL wins over DB_*.
    assert ServerSettings.from_env({"DATABASE_URL": "sqlite+aiosqlite:///x.db", "DB_HOST": "db"}).database_url == (
        "sqlite+aiosqlite:///x.db"
    )
    assert {s.env for s in DATABASE_ENV} == {"DATABASE_URL", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME"}
