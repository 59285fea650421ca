"""Run the gateway on 127.0.0.1 with fake upstreams, for trying real CLIs against it by hand.

Not a pytest test. Starts three fake upstreams (Anthropic, OpenAI, Gemini; the
suite's fakes from tests/fakes, or with --rich the richer ones in
tests/cli/rich_fakes.py), and the gateway on MemoryStores seeded with a user, a
gateway key and one account per platform (claude-console, openai, gemini-api)
whose base URLs point at the fakes. Prints the gateway URL and key, then logs,
one JSON line each, every request the gateway and each fake upstream receive
(method, path, query, headers without secrets, a short body summary, the
status answered) and every usage record the gateway writes. Exits by itself
after --minutes (default 15), or on Ctrl-C / SIGTERM.

    .venv/bin/python -m tests.cli.run_gateway [--port 0] [--minutes 15] [--log FILE] [--rich]
        [--claude-on openai|responses|codex|gemini | --others-on claude] [--dump-bodies DIR]

With --dump-bodies, each request the gateway receives is also written whole to
DIR, one JSON file per request (`0001-POST-openai-v1-responses.json`: method,
path, query and headers, secrets cut as in the log, and the full body, parsed
when it is JSON): the raw material of tests/fixtures' recorded requests. So is
each request a fake upstream receives (`0002-upstream-anthropic-POST-v1-messages.json`),
to see what a translated request became.

With --claude-on there is no Claude account: Claude models are served by one
account of that kind, translated (`model_mapping: {"claude-*": ...}`); `codex`
is an openai-responses account logged in to a fake ChatGPT Codex backend.

With --others-on claude there is no OpenAI and no Gemini account: one
claude-console account on the Anthropic fake serves every model, OpenAI's and
Gemini's mapped to a Claude model (`OTHERS_ON`), so Codex CLI's Responses
calls and Gemini CLI's generateContent calls are served translated.

The first lines printed are `GATEWAY=http://127.0.0.1:PORT` and `KEY=ap-...`
(also written to --env-file if given, as shell assignments).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

import anyio
import uvicorn

from aiproxy import MemoryStores, create_app
from aiproxy.security.api_keys import generate_api_key, hash_api_key
from aiproxy.security.cipher import CredentialCipher
from aiproxy.settings import UpstreamURLs
from aiproxy.stores.entities import Account, ApiKey
from tests.harness import ENCRYPTION_KEY, gateway_settings, seed_user
from tests.servers import free_port

UPSTREAM_KEYS = {"claude": "sk-ant-fake-upstream", "openai": "sk-fake-upstream", "gemini": "AIza-fake-upstream"}
SECRET_HEADERS = {"authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie"}
_lock = threading.Lock()
_out = sys.stdout
_dump_seq = itertools.count(1)


def log(entry: dict[str, Any]) -> None:
    entry = {"t": time.strftime("%H:%M:%S"), **entry}
    with _lock:
        _out.write(json.dumps(entry, default=str) + "\n")
        _out.flush()


def redact_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name in SECRET_HEADERS:
            # Enough to tell which credential it was, never the secret itself.
            value = value[:10] + "…" if len(value) > 10 else "…"
        out[name] = value if name not in out else out[name] + ", " + value
    return out


def redact_query(query: str) -> str:
    parts = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        parts.append(f"{name}={value[:6]}…" if name == "key" else part)
    return "&".join(parts)


def summarize(body: bytes) -> Any:
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return f"<{len(body)} bytes, not JSON>"
    if not isinstance(data, dict):
        return f"<JSON {type(data).__name__}>"
    summary: dict[str, Any] = {"bytes": len(body), "keys": sorted(data)}
    for name in ("model", "stream", "max_tokens", "max_output_tokens", "store", "tool_choice", "parallel_tool_calls"):
        if name in data:
            summary[name] = data[name]
    for name in ("messages", "contents", "input", "tools", "system"):
        value = data.get(name)
        if isinstance(value, list):
            summary[f"{name}#"] = len(value)
        elif isinstance(value, str):
            summary[name] = value[:60]
    if isinstance(data.get("stream_options"), dict):
        summary["stream_options"] = data["stream_options"]
    if "generationConfig" in data:
        summary["generationConfig"] = data["generationConfig"]
    if "reasoning" in data:
        summary["reasoning"] = data["reasoning"]
    if "include" in data:
        summary["include"] = data["include"]
    if "thinking" in data:
        summary["thinking"] = data["thinking"]
    return summary


def dump(directory: Path, entry: dict[str, Any], body: bytes) -> None:
    """Writes one request whole (the log keeps a summary only) to the --dump-bodies directory."""
    with _lock:
        seq = next(_dump_seq)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", entry["path"]).strip("-")[:80] or "root"
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = body.decode("utf-8", "replace")
    record = {key: entry[key] for key in ("method", "path", "query", "headers")}
    record.update(status=entry["status"], body_bytes=len(body), body=parsed)
    # The gateway's requests as `0001-POST-openai-v1-responses.json`, what a fake received as
    # `0002-upstream-anthropic-POST-v1-messages.json`, numbered in one sequence.
    at = "" if entry["at"] == "gateway" else entry["at"].replace(":", "-") + "-"
    path = directory / f"{seq:04d}-{at}{entry['method']}-{slug}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def logged(tag: str, app: Callable, dump_to: Path | None = None) -> Callable:
    """ASGI wrapper: logs each HTTP request with its body summary and the status answered (and dumps it whole)."""

    async def wrapper(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body = bytearray()
        started = time.monotonic()
        status: list[int] = []
        first_chunk: list[bytes] = []

        async def recv() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        async def snd(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body" and not first_chunk and status and status[0] >= 400:
                first_chunk.append(message.get("body", b"")[:300])
            await send(message)

        try:
            await app(scope, recv, snd)
        finally:
            entry = {
                "at": tag, "method": scope["method"], "path": scope["path"],
                "query": redact_query(scope.get("query_string", b"").decode("latin-1")),
                "headers": redact_headers(scope["headers"]), "body": summarize(bytes(body)),
                "status": status[0] if status else None, "ms": int((time.monotonic() - started) * 1000),
            }
            if first_chunk:
                entry["error_body"] = first_chunk[0].decode("utf-8", "replace")
            log(entry)
            if dump_to is not None:
                dump(dump_to, entry, bytes(body))

    return wrapper


class Server:
    def __init__(self, app: Callable, port: int = 0) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


# --claude-on: the account that serves Claude models, translated.
CLAUDE_ON: dict[str, dict[str, Any]] = {
    "openai": {"name": "oa-claude", "platform": "openai", "type": "openai",
               "model_mapping": {"claude-*": "gpt-4o"}},
    "responses": {"name": "resp-claude", "platform": "openai", "type": "openai-responses",
                  "model_mapping": {"claude-*": "gpt-5-codex"}},
    "codex": {"name": "codex-claude", "platform": "openai", "type": "openai-responses",
              "model_mapping": {"claude-*": "gpt-5-codex"}},
    "gemini": {"name": "studio-claude", "platform": "gemini", "type": "gemini-api",
               "model_mapping": {"claude-*": "gemini-2.5-flash"}},
}


# --others-on: the one account that serves every platform's models, translated for the OpenAI and Gemini ones.
OTHERS_ON: dict[str, dict[str, Any]] = {
    "claude": {"name": "console-all", "platform": "claude", "type": "claude-console",
               "models": ["claude-*", "gpt-*", "gemini-*"],
               "model_mapping": {"gpt-*": "claude-sonnet-4-5", "gemini-*": "claude-sonnet-4-5"}},
}


def codex_credentials() -> dict[str, Any]:
    from tests.fakes.openai_oauth import id_token

    return {"access_token": "oat-1", "refresh_token": "ort-1", "expires_at": int(time.time() + 3600),
            "id_token": id_token("acct-1"), "chatgpt_account_id": "acct-1"}


async def seed(stores: MemoryStores, claude_on: str | None = None, others_on: str | None = None) -> str:
    cipher = CredentialCipher(ENCRYPTION_KEY)
    user = await seed_user(stores)
    key = generate_api_key()
    await stores.keys.create(ApiKey(user_id=user.id, name="cli-trial", key_hash=hash_api_key(key), key_prefix=key[:8]))
    if others_on is not None:
        fields = dict(OTHERS_ON[others_on])
        credentials = {"api_key": UPSTREAM_KEYS[fields["platform"]]}
        await stores.accounts.create(Account(credentials=cipher.encrypt(credentials), **fields))
        return key
    for name, platform, kind in (("console", "claude", "claude-console"), ("oa", "openai", "openai"),
                                 ("studio", "gemini", "gemini-api")):
        if claude_on is not None and platform == "claude":
            continue
        await stores.accounts.create(Account(name=name, platform=platform, type=kind,
                                             credentials=cipher.encrypt({"api_key": UPSTREAM_KEYS[platform]})))
    if claude_on is not None:
        fields = dict(CLAUDE_ON[claude_on])
        credentials = codex_credentials() if claude_on == "codex" else {"api_key": UPSTREAM_KEYS[fields["platform"]]}
        await stores.accounts.create(Account(credentials=cipher.encrypt(credentials), **fields))
    return key


def main() -> None:
    global _out
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="gateway port (default: a free one)")
    parser.add_argument("--minutes", type=float, default=15, help="exit by itself after this long")
    parser.add_argument("--log", help="append the request log here instead of stdout")
    parser.add_argument("--env-file", help="write GATEWAY=... and KEY=... here")
    parser.add_argument("--rich", action="store_true", help="use tests/cli/rich_fakes.py (answers more paths)")
    accounts = parser.add_mutually_exclusive_group()
    accounts.add_argument("--claude-on", choices=sorted(CLAUDE_ON),
                          help="no Claude account: Claude models served, translated, by an account of this kind")
    accounts.add_argument("--others-on", choices=sorted(OTHERS_ON),
                          help="one account of this platform only: the other platforms' models served, translated")
    parser.add_argument("--dump-bodies", metavar="DIR",
                        help="also write each request the gateway receives, whole, to DIR (one JSON file each)")
    args = parser.parse_args()
    dump_to = Path(args.dump_bodies) if args.dump_bodies else None
    if dump_to is not None:
        dump_to.mkdir(parents=True, exist_ok=True)

    if args.rich:
        from tests.cli.rich_fakes import RichAnthropic as Anthropic
        from tests.cli.rich_fakes import RichGemini as Gemini
        from tests.cli.rich_fakes import RichOpenAI as OpenAI
    else:
        from tests.fakes.anthropic_upstream import FakeAnthropic as Anthropic
        from tests.fakes.gemini_upstream import FakeGemini as Gemini
        from tests.fakes.openai_upstream import FakeOpenAI as OpenAI

    stores = MemoryStores()
    key = anyio.run(seed, stores, args.claude_on, args.others_on)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    with ExitStack() as stack:
        if args.log:
            _out = stack.enter_context(open(args.log, "a", buffering=1))
        fakes = {name: stack.enter_context(Server(logged(f"upstream:{name}", fake().app(), dump_to)))
                 for name, fake in (("anthropic", Anthropic), ("openai", OpenAI), ("gemini", Gemini))}
        urls = UpstreamURLs(anthropic=fakes["anthropic"].url, openai=fakes["openai"].url, gemini=fakes["gemini"].url)
        if args.claude_on == "codex":
            from tests.fakes.openai_oauth import FakeCodex

            codex = stack.enter_context(Server(logged("upstream:codex", FakeCodex().app(), dump_to)))
            urls.codex = codex.url + "/backend-api/codex"
        settings = gateway_settings(upstream=urls)
        gateway = stack.enter_context(Server(logged("gateway", create_app(stores, settings), dump_to), args.port))
        print(f"GATEWAY={gateway.url}\nKEY={key}", flush=True)
        print(json.dumps({name: s.url for name, s in fakes.items()}), flush=True)
        if args.env_file:
            with open(args.env_file, "w") as f:
                f.write(f"GATEWAY={gateway.url}\nKEY={key}\n")
        deadline = time.monotonic() + args.minutes * 60
        shown = 0
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                stop.wait(0.5)
                records = stores.usage.records
                for record in records[shown:]:
                    log({"at": "usage", "platform": record.platform, "endpoint": record.endpoint,
                         "model": record.model, "stream": record.stream, "status": record.status,
                         "in": record.input_tokens, "out": record.output_tokens,
                         "cache_write": record.cache_creation_tokens, "cache_read": record.cache_read_tokens,
                         "formats": f"{record.client_format}->{record.upstream_format}", "error": record.error})
                shown = len(records)
        except KeyboardInterrupt:
            pass
        log({"at": "exit", "reason": "stopped" if stop.is_set() else "deadline or interrupt"})


if __name__ == "__main__":
    main()
