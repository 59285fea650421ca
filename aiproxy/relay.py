"""One request's trip: pick an account, send upstream, relay the answer back.

Streams are relayed chunk by chunk as they arrive, and usage is read from the
chunks on the way. While the upstream exchange runs, a watcher listens for the
client's disconnect and cancels it, which closes the upstream request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Protocol, Sequence, cast
from urllib.parse import parse_qsl, urlencode

import anyio
import anyio.lowlevel
import httpx
import orjson
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from .adapters.base import Adapter, UpstreamCall
from .bridging import BridgedType, Crossing, bridged_call
from .context import context
from .errors import error_response
from .formats.bridges.base import Bridge, LocalCount, RequestOptions, Untranslatable
from .formats.dialect import Dialect
from .formats.usage import Usage
from .formats.wire import WireFormat
from .headers import allowed_for, client_response_headers, upstream_request_headers
from .inbound import BadRequest, InboundRequest, read_inbound
from .key_models import model_allowed
from .model_limits import OutputCaps
from .scheduler import model_match, sessions
from .scheduler.faults import OK, Fault, FaultDefaults, classify
from .scheduler.model_prefix import ModelPrefixes
from .scheduler.pool import AccountPool, PoolAccount
from .scheduler.scheduler import Scheduler
from .scheduler.sessions import session_key
from .stores.entities import ApiKey
from .upstream_path import UnsafePathValue, fill_model
from .upstream_proxy import account_proxy
from .usage.meter import UsageMeter

log = logging.getLogger("aiproxy.relay")


class StreamTap(Protocol):
    """Sees every chunk of a streamed answer on its way to the client.

    It reads usage as the chunks pass and may change what is relayed (drop an
    event the client did not ask for, translate a format): `feed` returns the
    bytes to send on, `end` whatever it still holds when the upstream ends.
    """

    usage: Usage
    model: str | None
    error: str | None
    # Optional: a tap that can tell may set `complete = True` once the stream's
    # final event went by (message_stop, [DONE], response.completed); a client
    # hanging up after that has everything and is not counted as a disconnect.
    # On a route with a `continuation`, `response_id` is the id of the stored
    # answer the stream carried (None until its final event says so).

    def feed(self, chunk: bytes) -> bytes: ...

    def end(self) -> bytes: ...


@dataclass(frozen=True)
class Continuation:
    """How a route's requests continue answers the upstream stored (Responses'
    `previous_response_id`): only the account that made an answer holds it, so
    the relay has the scheduler remember who made each one and send its
    follow-ups there alone."""

    # The stored answer a request body continues, if it names one.
    previous: Callable[[dict[str, Any]], str | None]
    # Whether a request body asks the upstream to store its answer (else nothing is remembered).
    stores: Callable[[dict[str, Any]], bool]
    # Usage, model and stored id of a non-streamed answer, from one decode (in
    # place of RouteSpec.body_usage); a streamed one's id is its tap's `response_id`.
    read_body: Callable[[bytes], tuple[Usage | None, str | None, str | None]]


@dataclass(frozen=True)
class RouteSpec:
    """What one gateway route forwards where, and how its answers are read."""

    platform: str
    endpoint: str  # the name usage records carry
    method: str
    # The upstream path in the platform's own API; "{model}" is replaced by the
    # upstream model name. Adapters for other upstreams translate from it.
    upstream_path: str
    dialect: Dialect
    # The wire format the client speaks (formats.wire), which usage records carry.
    client_format: WireFormat
    # Usage and model from a non-streamed answer.
    body_usage: Callable[[bytes], tuple[Usage | None, str | None]] | None = None
    # A tap for streamed answers, made per request (it may depend on what the client asked).
    stream_tap: Callable[[InboundRequest], StreamTap] | None = None
    # Rewrites the client's body for the upstream (None: forwarded as sent).
    # Must not mutate its argument, and must return it unchanged when it has
    # nothing to change, so the client's bytes can be forwarded as they came.
    prepare_body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    needs_json_body: bool = False
    # Rewrites a successful non-streamed answer for the client (a translated
    # format); usage is read from the upstream's own bytes first.
    rewrite_body: Callable[[bytes], bytes] | None = None
    # Rewrites a successful non-streamed answer for the caller's key (applied
    # after rewrite_body): the model lists, narrowed to the key's models.
    rewrite_for_key: Callable[[bytes, ApiKey], bytes] | None = None
    # The format the route's own platform's accounts are sent, where the route
    # translates by itself (/gemini/v1/chat: openai-chat in, gemini out); None:
    # the client's.
    native_format: WireFormat | None = None
    # May accounts of other formats serve it, its requests translated for them
    # (formats/bridges)? False: only the route's own platform's accounts do.
    translatable: bool = False
    # For a route whose answers later requests may continue by id (Responses).
    continuation: Continuation | None = None
    # A token count route (`count_tokens`): translated through the pair's
    # `count` (Bridge.count), which may answer it here without an upstream call.
    counts_tokens: bool = False
    # A model list route: (the upstream's list after rewrite_for_key, or None
    # when no account of the route's platform is in reach; the models accounts
    # reached through a translator serve the key, Relay.reachable_models) ->
    # the list the client gets.
    merge_models: Callable[[bytes | None, Sequence[str]], bytes] | None = None


Ending = Literal["delivered", "withheld", "client-gone", "refused"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one account's attempt came to; the attempt loop acts on this alone.

    - "delivered": the client has its answer (a success, or a failure passed on
      as it came, when no other account may try);
    - "withheld": a failing answer kept back unsent, so the next account may serve;
    - "client-gone": the client hung up before its answer was complete;
    - "refused": the request cannot go to this upstream at all (`error` says
      why, for the client's 400); no account is to blame.
    """

    ending: Ending
    # What the upstream's answer means for the account, for the scheduler; None
    # when no answer was judged (the client left first, or the request was refused).
    fault: Fault | None = None
    error: str = ""


# The common case, made once: a success allocates no outcome of its own.
_DELIVERED_OK = Outcome("delivered", OK)


class Relay:
    def __init__(
        self,
        scheduler: Scheduler,
        pool: AccountPool,
        adapters: Mapping[str, Adapter],
        *,
        max_request_bytes: int,
        failover_attempts: int = 3,
        fault_defaults: FaultDefaults = FaultDefaults(),
        on_fault: Callable[[str, int, Fault], None] | None = None,
        limited_paths: Mapping[str, tuple[str, ...]] | None = None,
        model_prefixes: ModelPrefixes | None = None,
        bridged: Mapping[WireFormat, Mapping[str, BridgedType]] | None = None,
        output_caps: OutputCaps | None = None,
    ) -> None:
        self._scheduler = scheduler
        # Told of every classified upstream answer (platform, account id, fault): the metrics.
        self._on_fault = on_fault
        self._pool = pool
        self._adapters = adapters
        self._max_request_bytes = max_request_bytes
        self._attempts = max(failover_attempts, 1)
        self._fault_defaults = fault_defaults
        # Account type -> the upstream paths it serves, for the types that declare
        # them (AccountType.paths); model-name prefixes that pick account types.
        # Both from the account-type registry (create_app hands them in).
        self._limited_paths: dict[str, tuple[str, ...]] = dict(limited_paths or {})
        self._prefixes = model_prefixes or ModelPrefixes({})
        # Client format -> the account types reached from it through a
        # translator (bridging.bridged_types), but those served only for a
        # routing prefix, which are never bridged.
        prefixed = self._prefixes.prefixed
        self._bridged: dict[WireFormat, dict[str, BridgedType]] = {
            client: {name: t for name, t in types.items() if name in self._adapters and name not in prefixed}
            for client, types in (bridged or {}).items()
        }
        # Models' output caps, which a translated request's limit is clamped to (model_limits).
        self._output_caps = output_caps if output_caps is not None else OutputCaps.load()
        # Client format -> which pool accounts it reaches through a pair, derived
        # again when the pool reloads (its generation): per request, one lookup.
        self._reaches: dict[WireFormat, _Reach] = {}
        self._reaches_of = -1

    def _reach(self, client_format: WireFormat) -> _Reach:
        """The ids of the accounts `client_format` reaches through a pair (an account's
        options may narrow its formats, so this is decided per account, not per type)."""
        if self._pool.generation != self._reaches_of:
            self._reaches, self._reaches_of = {}, self._pool.generation
        reach = self._reaches.get(client_format)
        if reach is None:
            types = self._bridged.get(client_format, {})
            bridged: set[int] = set()
            counting: set[int] = set()
            for a in self._pool.accounts:
                crossing_type = types.get(a.account.type)
                bridge = crossing_type.crossing(a.account.options or {}) if crossing_type is not None else None
                if bridge is None:
                    continue  # it speaks the client's format itself, or nothing a pair reaches
                bridged.add(a.id)
                if bridge.count is not None:
                    counting.add(a.id)
            reach = self._reaches[client_format] = _Reach(frozenset(bridged), frozenset(counting))
        return reach

    def platforms_reached(self, client_format: WireFormat) -> frozenset[str]:
        """The account platforms a route of this client format may reach through a translator."""
        return frozenset(t.platform for t in self._bridged.get(client_format, {}).values())

    def reachable_models(self, client_format: WireFormat, key: ApiKey | None) -> list[str]:
        """The models that accounts reached from `client_format` through a translator
        serve for `key`, for a model list: of each account in the key's reach (its
        own, its `platforms`) the plain names of its `models` and `model_mapping`,
        or, listing none, its type's known models of its family; those the key's
        `models` allow, each once, in the order the accounts would be tried.
        Accounts that speak the client's format list their own (their upstream's list)."""
        types = self._bridged.get(client_format, {})
        reach = self._reach(client_format)
        names: dict[str, None] = {}
        for a in self._scheduler.reachable(key):
            if a.id not in reach.bridged:
                continue
            for name in a.bridged_models(types[a.account.type].models):
                if key is None or model_allowed(key, name):
                    names.setdefault(name)
        return list(names)

    async def serve(self, spec: RouteSpec, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = context(scope)
        meter = ctx.meter or UsageMeter(platform=spec.platform)
        meter.endpoint = spec.endpoint
        meter.client_format = spec.client_format
        inbound = await self._read(spec, meter, scope, receive, send)
        if inbound is None:
            return
        requested = spec.dialect.requested_model(scope["path"], inbound.model)
        # A routing prefix ("ccr,<model>") picks the account types and is not
        # part of the model's name: usage records and upstreams see it stripped.
        model, types = self._prefixes.route(requested, self._adapters.keys())
        # Accounts of other formats, reached through a translator, by id; not
        # for a prefixed model, which names its account type.
        bridged: frozenset[int] = frozenset()
        if spec.translatable and model == requested:
            reach = self._reach(spec.client_format)
            bridged = reach.counting if spec.counts_tokens else reach.bridged
        if self._limited_paths:
            # Types that serve only some upstream paths (`paths`) are
            # left out of every other route.
            types = [t for t in types if spec.upstream_path in self._limited_paths.get(t, (spec.upstream_path,))]
        meter.model = model or ""
        meter.stream = inbound.stream

        session = session_key(spec.platform, _header_map(scope), inbound.json, scope["path"])
        continuation, continues = spec.continuation, None
        if continuation is not None and inbound.json is not None:
            continues = continuation.previous(inbound.json)
            if not continuation.stores(inbound.json):
                continuation = None  # nothing of its answer is kept upstream: nothing to remember
        plan = await self._scheduler.plan(spec.platform, model, types, key=ctx.key, session=session, bridged=bridged,
                                          continues=continues)
        if plan.refusal is not None:
            # The account that holds the history it continues cannot serve: no other may.
            refusal = plan.refusal
            meter.error = refusal.message
            retry = {"retry-after": str(math.ceil(refusal.retry_after))} if refusal.retry_after else None
            await error_response(spec.dialect, refusal.status, refusal.message, retry)(scope, receive, send)
            return
        listed: Sequence[str] | None = None
        if spec.merge_models is not None:
            listed = self.reachable_models(spec.client_format, ctx.key)
            if not plan.candidates:  # no upstream list to ask for: the translated accounts' alone
                await Response(spec.merge_models(None, listed), media_type="application/json")(scope, receive, send)
                return
        if not plan.candidates and plan.denied:
            denial = f"API key may not use the {', '.join(sorted(plan.denied))} platform"
            meter.error = denial
            await error_response(spec.dialect, 403, denial)(scope, receive, send)
            return
        attempts = 0
        for i, chosen in enumerate(plan.candidates):
            if attempts >= self._attempts:
                break
            local = self._local_count(spec, chosen, bridged)
            if local is not None:
                # Counted here: no upstream call, so no concurrency slot and no outcome to report.
                meter.account_id = chosen.id
                await self._count_here(local, spec, inbound, meter, chosen, model, scope, receive, send)
                return
            slot = await self._scheduler.acquire(chosen)
            if slot is None:
                limit = chosen.account.max_concurrency
                plan.skipped.append(f"{chosen.account.name}: {limit} requests in flight already")
                continue
            attempts += 1
            # The last try relays whatever the upstream answers; earlier ones may
            # hand a failing answer back unsent, so the next account can serve.
            last = attempts >= self._attempts or i == len(plan.candidates) - 1
            meter.account_id = chosen.id
            exchange = _Exchange(spec, inbound, meter, scope, receive, send, self._fault_defaults, may_retry=not last)
            exchange.continuation = continuation
            exchange.listed = listed
            try:
                outcome = await self._attempt(exchange, chosen, requested, model, chosen.id in bridged)
            finally:
                await self._scheduler.release(chosen, slot)
            answer_id = exchange.answer_id
            if answer_id is not None:
                # After the answer went out: one state write, never before its first byte.
                await self._scheduler.remember_response(chosen, answer_id)
            if outcome.ending == "refused":
                meter.error = outcome.error
                await error_response(spec.dialect, 400, outcome.error)(scope, receive, send)
                return
            if outcome.fault is not None:
                if self._on_fault is not None:
                    self._on_fault(chosen.account.platform, chosen.id, outcome.fault)
                await self._scheduler.report(plan, chosen, outcome.fault)
            if outcome.ending != "withheld":
                return  # delivered, or the client gone: either way the request is over
            plan.skipped.append(f"{chosen.account.name}: {outcome.fault.reason if outcome.fault else 'failed'}")
        why = plan.why_none(spec.platform, requested)
        meter.account_id = None if attempts == 0 else meter.account_id
        meter.error = why
        await error_response(spec.dialect, 503, why)(scope, receive, send)

    async def _read(
        self, spec: RouteSpec, meter: UsageMeter, scope: Scope, receive: Receive, send: Send
    ) -> InboundRequest | None:
        """The client's request, or None once it has been answered with why it cannot be served."""
        if scope["method"] != spec.method:
            await error_response(spec.dialect, 405, f"method {scope['method']} not allowed; use {spec.method}")(
                scope, receive, send
            )
            return None
        try:
            inbound = await read_inbound(scope, receive, self._max_request_bytes)
        except BadRequest as exc:
            meter.error = exc.message
            if exc.status != 499:  # a vanished client gets no answer
                await error_response(spec.dialect, exc.status, exc.message)(scope, receive, send)
            return None
        if spec.needs_json_body and inbound.json is None:
            await error_response(spec.dialect, 400, "request body must be a JSON object")(scope, receive, send)
            return None
        return inbound

    async def _attempt(
        self, exchange: _Exchange, chosen: PoolAccount, requested: str | None, model: str | None, bridged: bool
    ) -> Outcome:
        """One account's try at the request (the caller holds its concurrency slot);
        `bridged`: it is reached through a translator."""
        account = chosen.account
        try:
            if bridged:
                call = self._bridged_call(exchange, chosen, model)
            else:
                exchange.meter.priced_model = None  # a bridged try before this one priced otherwise
                exchange.meter.upstream_format = exchange.spec.native_format or exchange.spec.client_format
                call = _upstream_call(exchange.spec, exchange.scope, exchange.inbound, requested, model,
                                      account.model_mapping)
            await self._scheduler.started(chosen)
            # Every upstream request made for this account (its API call, a
            # token refresh on the way) goes through the account's proxy.
            with account_proxy(chosen.account.proxy):
                return await exchange.run(self._adapters[chosen.account.type], chosen.account, chosen.credentials, call)
        except UnsafePathValue as exc:
            # A model (or deployment, id) that cannot be a segment of this
            # upstream's URL path, found by the relay or the adapter before
            # anything was sent: the request's fault, not the account's.
            return Outcome("refused", error=exc.message)
        except Untranslatable as exc:
            # What the account's format cannot carry: the request's fault, answered
            # 400 before any upstream call (another account would translate it alike).
            return Outcome("refused", error=exc.message)

    def _pair(self, spec: RouteSpec, chosen: PoolAccount, model: str, meter: UsageMeter) -> tuple[Bridge, RequestOptions]:
        """The pair for an account of another format, and what it needs to know of the upstream."""
        account = chosen.account
        crossing_type = self._bridged[spec.client_format][account.type]
        bridge = crossing_type.crossing(account.options or {})
        # What this attempt sends (a native try before it sent another), recorded
        # also when the translation is refused: the record says what was tried.
        meter.upstream_format = bridge.upstream if bridge is not None else ""
        if bridge is None:
            # Its options narrowed its formats to none a pair reaches.
            raise Untranslatable("model", f"account {account.name!r} cannot serve this API's requests")
        upstream_model = model_match.upstream_model(model, account.model_mapping)
        drop = crossing_type.drop(chosen.credentials) if crossing_type.drop is not None else frozenset()
        return bridge, RequestOptions(model=upstream_model, drop=drop, client_model=model)

    def _local_count(self, spec: RouteSpec, chosen: PoolAccount, bridged: frozenset[int]) -> LocalCount | None:
        """The pair's own count for an account of another format on a count route, if it counts locally."""
        if not spec.counts_tokens or chosen.id not in bridged:
            return None
        crossing_type = self._bridged[spec.client_format][chosen.account.type]
        bridge = crossing_type.crossing(chosen.account.options or {})
        count = bridge.count if bridge is not None else None
        return count if isinstance(count, LocalCount) else None

    async def _count_here(self, count: LocalCount, spec: RouteSpec, inbound: InboundRequest, meter: UsageMeter,
                          chosen: PoolAccount, model: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        """A token count the pair answers itself (its estimate), or its 400."""
        assert model is not None and inbound.json is not None
        try:
            _, options = self._pair(spec, chosen, model, meter)
            body = count.answer(inbound.json, options)
        except Untranslatable as exc:
            # What /v1/messages would refuse on this account, refused alike.
            meter.error = exc.message
            await error_response(spec.dialect, 400, exc.message)(scope, receive, send)
            return
        await Response(body, media_type="application/json")(scope, receive, send)

    def _bridged_call(self, exchange: _Exchange, chosen: PoolAccount, model: str | None) -> UpstreamCall:
        """The request translated for an account of another format; the exchange told how to answer."""
        spec = exchange.spec
        assert model is not None and exchange.inbound.json is not None
        if spec.continuation is not None and spec.continuation.previous(exchange.inbound.json) is not None:
            # The history lives upstream, and a translated target keeps none: answering
            # without it would be answering another conversation.
            raise Untranslatable("previous_response_id", f"account {chosen.account.name!r} keeps no server-side "
                                 "conversation state; send the full input instead")
        bridge, options = self._pair(spec, chosen, model, exchange.meter)
        call, exchange.crossing = bridged_call(
            bridge, exchange.inbound.json, exchange.scope["headers"], spec.method, options.model, options.drop,
            self._output_caps, count=spec.counts_tokens, client_model=model, stream=exchange.inbound.stream,
            client_query=_client_query(exchange.scope.get("query_string", b"")))
        # Another vendor's model served it: its prices apply, not the requested name's.
        exchange.meter.priced_model = options.model
        return call


# The header names session_key reads (lower-case, as servers put them in the scope).
_SESSION_HEADERS = frozenset(
    name.encode("latin-1")
    for name in (
        sessions.EXPLICIT_HEADER,
        sessions.CLAUDE_CODE_HEADER,
        *sessions.CODEX_SESSION_HEADERS,
        *sessions.CODEX_CONVERSATION_HEADERS,
    )
)


@dataclass(frozen=True, slots=True)
class _Reach:
    """The pool accounts one client format reaches through a pair, by id."""

    bridged: frozenset[int]
    counting: frozenset[int]  # of those, the ones whose pair answers a token count


def _client_query(query_string: bytes) -> tuple[tuple[str, str], ...]:
    # What a pair may read of the client's query (Gemini's `alt=sse`); never the key.
    if not query_string:
        return ()
    return tuple((k, v) for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if k != "key")


def _header_map(scope: Scope) -> dict[str, str]:
    # Only the few headers session_key reads: decoding all of them would be
    # per-header work on every request for nothing.
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _SESSION_HEADERS}


def _upstream_call(
    spec: RouteSpec,
    scope: Scope,
    inbound: InboundRequest,
    requested: str | None,
    model: str | None,
    mapping: Mapping[str, str],
) -> UpstreamCall:
    # `requested` is the model as the client named it, `model` the same without a routing prefix.
    upstream_model = model_match.upstream_model(model, mapping) if model else model
    data = inbound.json
    prepared = data
    if data is not None and spec.prepare_body is not None:
        prepared = spec.prepare_body(data)  # returns `data` itself when it changes nothing
    if prepared is not None and upstream_model != requested and "model" in prepared:
        prepared = {**prepared, "model": upstream_model}
    # Re-encode only when something changed: otherwise the client's bytes go as they came.
    body = inbound.body if prepared is data else orjson.dumps(prepared)
    data = prepared
    path = fill_model(spec.upstream_path, upstream_model)  # checked and escaped, or UnsafePathValue
    return UpstreamCall(
        method=spec.method,
        path=path,
        query=_without_key_param(scope.get("query_string", b"")),
        headers=upstream_request_headers(scope["headers"], allowed_for(spec.platform, spec.upstream_path)),
        body=body,
        json=data,
        model=upstream_model,
        stream=inbound.stream,
    )


def _with_content_type(headers: list[tuple[bytes, bytes]], value: bytes) -> list[tuple[bytes, bytes]]:
    # A translated body is no longer what the upstream's content-type described.
    return [*(h for h in headers if h[0] != b"content-type"), (b"content-type", value)]


def _without_key_param(query_string: bytes) -> str:
    # `?key=` may carry the client's gateway key (Gemini style); never forward it.
    if not query_string:
        return ""
    query = query_string.decode("latin-1")
    if "key=" not in query:
        return query
    return urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "key"])


class _Exchange:
    """The upstream half of one attempt, watched for a client disconnect.

    `run` returns what the attempt came to. The flags below are the exchange's
    own, kept while it runs (the disconnect watcher and the sends read them);
    nothing outside reads them.
    """

    def __init__(
        self,
        spec: RouteSpec,
        inbound: InboundRequest,
        meter: UsageMeter,
        scope: Scope,
        receive: Receive,
        send: Send,
        fault_defaults: FaultDefaults,
        *,
        may_retry: bool = False,
    ) -> None:
        self.spec = spec
        self.fault_defaults = fault_defaults
        # May a failing answer be withheld (nothing sent) so another account serves?
        self.may_retry = may_retry
        # What the upstream's answer means for the account, kept as soon as it is
        # judged: a disconnect may cut the exchange after that, and the
        # scheduler is still told of it.
        self._fault: Fault | None = None
        self.inbound = inbound
        self.meter = meter
        self.scope = scope
        self.receive = receive
        self.send = send
        self._started = False  # has the response start been sent to the client?
        self._disconnected = False
        # Has everything the upstream sent been passed on? A client may hang up
        # right after the last event it needs (Codex does, on response.completed),
        # before the closing empty message: that is not a disconnect.
        self._finished = False
        self._tap: StreamTap | None = None
        self._cancel_scope = anyio.CancelScope()
        # Set for an account reached through a translator: its answers are translated back.
        self.crossing: Crossing | None = None
        # Set when the answer is stored upstream for later requests to continue:
        # its id is then read (`answer_id`).
        self.continuation: Continuation | None = None
        self._body_answer_id: str | None = None
        # On a model list route: the models reached through a translator, merged into the answer.
        self.listed: Sequence[str] | None = None

    @property
    def answer_id(self) -> str | None:
        """The id of the stored answer this attempt delivered, for the scheduler to remember."""
        if self.continuation is None:
            return None
        if self._tap is not None:
            answer_id: str | None = getattr(self._tap, "response_id", None)
            return answer_id
        return self._body_answer_id

    async def run(self, adapter: Adapter, account: Any, credentials: dict[str, Any], call: UpstreamCall) -> Outcome:
        # The watcher is a bare asyncio task, not an anyio task group: the
        # benchmark measured a task group at ~0.06 ms a request against ~0.01
        # ms for this, on every request. The cancel scope keeps the
        # cancellation contained to the upstream exchange.
        watcher = asyncio.ensure_future(self._watch_disconnect())
        outcome: Outcome | None = None
        try:
            with self._cancel_scope:
                outcome = await self._forward(adapter, account, credentials, call)
        finally:
            watcher.cancel()
        tap = self._tap
        if tap is not None:  # also when the stream was cut: what the tap saw still counts
            # Read again at the end: a tap (a translator) may have replaced the Usage it began with.
            self.meter.usage = tap.usage
            if tap.model and not self.meter.model:
                self.meter.model = tap.model
            if tap.error:
                self.meter.error = tap.error
        if self._disconnected:
            self.meter.error = self.meter.error or "client disconnected"
            if not self._started:
                self.meter.status = 499  # nginx's "client closed request"
            return Outcome("client-gone", self._fault)
        if outcome is None:
            # Cut short after the client had everything (it hung up on a
            # complete stream): delivered.
            return Outcome("delivered", self._fault)
        return outcome

    async def _watch_disconnect(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                if self._finished:
                    return  # servers report the end of a completed exchange as a disconnect too
                if getattr(self._tap, "complete", False):
                    # The client had everything and hung up (Codex does, on
                    # response.completed): stop reading upstream, but it is no error.
                    self._cancel_scope.cancel()
                    return
                self._disconnected = True
                self._cancel_scope.cancel()
                return

    async def _client_send(self, message: Message) -> None:
        try:
            await self.send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self._finished = True
        except OSError:
            if self._finished or getattr(self._tap, "complete", False):
                self._finished = True
                return
            # ASGI 2.4 servers raise on send to a closed connection.
            self._disconnected = True
            self._cancel_scope.cancel()
            await anyio.lowlevel.checkpoint()  # raises the cancellation just requested
            raise

    async def _fail(self, status: int, message: str) -> None:
        self.meter.error = message
        await error_response(self.spec.dialect, status, message)(self.scope, self.receive, self._client_send)

    async def _forward(
        self, adapter: Adapter, account: Any, credentials: dict[str, Any], call: UpstreamCall
    ) -> Outcome:
        try:
            response = await adapter.send(account, credentials, call)
        except httpx.HTTPError as exc:
            fault = self._fault = classify(None, {}, None, now=time.time(), error=exc, defaults=self.fault_defaults)
            if self.may_retry and fault.failover:
                return Outcome("withheld", fault)
            if isinstance(exc, httpx.TimeoutException):
                await self._fail(504, f"upstream timed out: {type(exc).__name__}")
            else:
                await self._fail(502, f"upstream connection failed: {type(exc).__name__}: {exc}")
            return Outcome("delivered", fault)
        try:
            content_type = response.headers.get("content-type", "")
            headers = client_response_headers(response.headers.raw)
            if response.status_code >= 400:
                return await self._relay_failure(response, headers)
            self._fault = OK
            # A stream is relayed chunk by chunk when it is SSE, or when the client
            # asked for one and the route can read it (Gemini's JSON-array stream
            # comes as application/json).
            if self.crossing is not None:
                streamed = self.crossing.stream  # a stream's content type is its translator's (_relay_stream)
                if not streamed:
                    headers = _with_content_type(headers, b"application/json")
            else:
                streamed = content_type.startswith("text/event-stream") or (
                    self.inbound.stream and self.spec.stream_tap is not None
                )
            if streamed:
                await self._relay_stream(response, headers)
            else:
                await self._relay_body(response, headers)
            return _DELIVERED_OK
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()

    async def _relay_failure(self, response: httpx.Response, headers: list[tuple[bytes, bytes]]) -> Outcome:
        """An error answer: read it (error bodies are small), judge it, and either
        hand it back unsent for the next account or pass it on as it came."""
        try:
            body = await response.aread()
        except httpx.HTTPError as exc:
            fault = self._fault = classify(None, {}, None, now=time.time(), error=exc, defaults=self.fault_defaults)
            await self._fail(502, f"upstream response broke: {type(exc).__name__}")
            return Outcome("delivered", fault)
        fault = self._fault = classify(
            response.status_code, response.headers, body, now=time.time(), defaults=self.fault_defaults
        )
        if self.may_retry and fault.failover:
            return Outcome("withheld", fault)
        if self.crossing is not None:
            # Judged on the upstream's own answer above; the client gets it in its shape.
            body = self.crossing.bridge.error(response.status_code, body)
            headers = _with_content_type(headers, b"application/json")
        await self._send_body(response.status_code, headers, body)
        return Outcome("delivered", fault)

    async def _relay_body(self, response: httpx.Response, headers: list[tuple[bytes, bytes]]) -> None:
        try:
            body = await response.aread()
        except httpx.HTTPError as exc:
            await self._fail(502, f"upstream response broke: {type(exc).__name__}")
            return
        await self._send_body(response.status_code, headers, body)

    async def _send_body(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        if status < 400:
            exact: Usage | None = None
            if self.crossing is not None:
                # The upstream's own counts are the record's; the client's answer
                # carries them as far as its format has fields for them.
                exact = self.crossing.upstream_usage(body)
                body = self.crossing.answer(body)
            usage: Usage | None = None
            model: str | None = None
            if self.continuation is not None:
                usage, model, self._body_answer_id = self.continuation.read_body(body)
            elif exact is None and self.spec.body_usage is not None:
                # (A translated answer's usage was read above, and its model is the requested one.)
                usage, model = self.spec.body_usage(body)
            if exact is not None:
                usage = exact
            if usage is not None:
                self.meter.usage = usage
            if model and not self.meter.model:
                self.meter.model = model
            if self.spec.rewrite_body is not None:
                body = self.spec.rewrite_body(body)
            key = context(self.scope).key
            if self.spec.rewrite_for_key is not None and key is not None:
                body = self.spec.rewrite_for_key(body, key)
            if self.spec.merge_models is not None and self.listed is not None:
                body = self.spec.merge_models(body, self.listed)
        else:
            self.meter.error = body[:500].decode("utf-8", "replace")
        headers.append((b"content-length", str(len(body)).encode()))
        await self._client_send({"type": "http.response.start", "status": status, "headers": headers})
        self._started = True
        await self._client_send({"type": "http.response.body", "body": body})

    async def _relay_stream(self, response: httpx.Response, headers: list[tuple[bytes, bytes]]) -> None:
        tap = self.spec.stream_tap(self.inbound) if self.spec.stream_tap else None
        if self.crossing is not None:
            bridged_tap = self.crossing.tap(tap)
            headers = _with_content_type(headers, bridged_tap.media_type)
            # Read-only properties over the route's own tap: a StreamTap to the relay.
            tap = cast(StreamTap, bridged_tap)
        self._tap = tap
        if tap is not None:
            self.meter.usage = tap.usage  # shared, so a cut stream still records what was seen
        await self._client_send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        self._started = True
        try:
            async for chunk in response.aiter_bytes():
                if tap is not None:
                    chunk = tap.feed(chunk)
                    if not chunk:
                        continue
                await self._client_send({"type": "http.response.body", "body": chunk, "more_body": True})
            tail = tap.end() if tap is not None else b""
            if tail:
                await self._client_send({"type": "http.response.body", "body": tail, "more_body": True})
            self._finished = True
        except httpx.HTTPError as exc:
            message = f"upstream stream broke: {type(exc).__name__}"
            self.meter.error = message
            await self._client_send(
                {"type": "http.response.body", "body": self.spec.dialect.stream_error(502, message), "more_body": True}
            )
        await self._client_send({"type": "http.response.body", "body": b"", "more_body": False})
