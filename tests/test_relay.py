"""What one attempt comes to (`_Exchange.run`'s Outcome), the only thing the relay's
attempt loop acts on: delivered, withheld for the next account, or the client gone,
each with the fault the scheduler is told of."""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import anyio
import httpx
import orjson
import pytest

from aiproxy.adapters.base import UpstreamCall
from aiproxy.bridging import BridgedType
from aiproxy.context import context
from aiproxy.inbound import InboundRequest
from aiproxy.relay import Outcome, Relay, _Exchange
from aiproxy.routes.claude import MESSAGES
from aiproxy.routes.openai import RESPONSES
from aiproxy.scheduler.faults import OK, FaultDefaults
from aiproxy.scheduler.pool import AccountPool
from aiproxy.scheduler.scheduler import Scheduler
from aiproxy.security.cipher import CredentialCipher
from aiproxy.state.memory import MemoryState
from aiproxy.stores.entities import Account
from aiproxy.stores.memory import MemoryAccountStore
from aiproxy.usage.meter import UsageMeter
from tests.fakes.anthropic_upstream import stream_events

pytestmark = pytest.mark.anyio

CALL = UpstreamCall(method="POST", path="/v1/messages", query="", headers=[], body=b"{}", stream=False)


class Client:
    """The ASGI client side: what was sent to it, and when it hangs up."""

    def __init__(self, hang_up_after: int | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.hang_up_after = hang_up_after  # messages received before the disconnect; None: never
        self.gone = anyio.Event()
        if hang_up_after == 0:
            self.gone.set()

    async def receive(self) -> dict[str, Any]:
        if self.hang_up_after is None:
            await anyio.sleep_forever()
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if self.hang_up_after is not None and len(self.messages) >= self.hang_up_after:
            self.gone.set()

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.messages if m["type"] == "http.response.start"), None)


class Adapter:
    def __init__(self, answer: Callable[[], Any]) -> None:
        self.answer = answer

    async def send(self, account: Any, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        return await self.answer()


async def run(answer: Callable[[], Any], client: Client, *, may_retry: bool,
              stream: bool = False) -> tuple[Outcome, UsageMeter]:
    meter = UsageMeter(platform="claude")
    inbound = InboundRequest(body=b"{}", json={}, model="m", stream=stream)
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/messages", "headers": []}
    exchange = _Exchange(MESSAGES, inbound, meter, scope, client.receive, client.send, FaultDefaults(),
                         may_retry=may_retry)
    with anyio.fail_after(5):
        outcome = await exchange.run(Adapter(answer), None, {}, CALL)
    return outcome, meter


def answering(status: int, **kwargs: Any) -> Callable[[], Any]:
    async def answer() -> httpx.Response:
        return httpx.Response(status, **kwargs)
    return answer


def failing(exc: httpx.HTTPError) -> Callable[[], Any]:
    async def answer() -> httpx.Response:
        raise exc
    return answer


OVERLOADED = {"json": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}}


async def test_a_success_is_delivered_with_the_ok_fault() -> None:
    client = Client()
    outcome, _ = await run(answering(200, json={"type": "message", "content": []}), client, may_retry=True)
    assert outcome == Outcome("delivered", OK)
    assert client.status == 200


async def test_a_failing_answer_is_withheld_while_another_account_may_try() -> None:
    client = Client()
    outcome, _ = await run(answering(529, **OVERLOADED), client, may_retry=True)
    assert outcome.ending == "withheld"
    assert outcome.fault is not None and outcome.fault.kind == "overloaded" and outcome.fault.failover
    assert client.messages == []  # nothing sent: the next account serves


async def test_on_the_last_try_the_failing_answer_is_passed_on() -> None:
    client = Client()
    outcome, meter = await run(answering(529, **OVERLOADED), client, may_retry=False)
    assert outcome.ending == "delivered"
    assert outcome.fault is not None and outcome.fault.kind == "overloaded"
    assert client.status == 529 and "busy" in (meter.error or "")


@pytest.mark.parametrize(("may_retry", "ending", "status"), [(True, "withheld", None), (False, "delivered", 502)])
async def test_a_transport_failure(may_retry: bool, ending: str, status: int | None) -> None:
    client = Client()
    outcome, _ = await run(failing(httpx.ConnectError("refused")), client, may_retry=may_retry)
    assert outcome.ending == ending
    assert outcome.fault is not None and outcome.fault.kind != "ok"
    assert client.status == status


async def test_a_client_gone_before_the_answer_leaves_nothing_to_judge() -> None:
    async def never() -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    client = Client(hang_up_after=0)
    outcome, meter = await run(never, client, may_retry=True)
    assert outcome == Outcome("client-gone", None)
    assert meter.status == 499 and meter.error == "client disconnected"


async def test_a_client_gone_mid_stream_still_reports_the_answer_as_ok() -> None:
    async def stalling() -> AsyncIterator[bytes]:
        yield stream_events("m")[0]
        await anyio.sleep_forever()

    client = Client(hang_up_after=2)  # the response start and the first event
    answer = answering(200, content=stalling(), headers={"content-type": "text/event-stream"})
    outcome, meter = await run(answer, client, may_retry=True, stream=True)
    assert outcome == Outcome("client-gone", OK)  # the account served: the scheduler hears so
    assert meter.error == "client disconnected" and meter.status != 499


# --- a bridged account and a request continuing a stored answer (issue 13) ------------


async def test_a_bridged_account_never_serves_a_request_continuing_a_stored_answer() -> None:
    # The Responses route over a bridged type of its own: the check comes before the
    # request is translated, so no upstream call is made.
    cipher = CredentialCipher(CredentialCipher.generate_key())
    store = MemoryAccountStore()
    await store.create(Account(name="claude-1", platform="claude", type="claude-console",
                               credentials=cipher.encrypt({"api_key": "k"})))
    pool = AccountPool(store, cipher)
    await pool.reload()
    calls: list[UpstreamCall] = []

    class Recording:
        async def send(self, account: Any, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
            calls.append(call)
            return httpx.Response(500)

    bridged = {"openai-responses": {"claude-console": BridgedType(
        "claude-console", "claude", "openai-responses", speaks=lambda options: ("anthropic-messages",))}}
    relay = Relay(Scheduler(pool, MemoryState()), pool, {"claude-console": Recording()}, max_request_bytes=1 << 20,
                  bridged=bridged)
    spec = RESPONSES

    async def serve(body: dict[str, Any]) -> tuple[int | None, str]:
        scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/responses", "headers": [],
                                 "query_string": b""}
        context(scope).inbound = InboundRequest(body=orjson.dumps(body), json=body, model=body["model"], stream=False)
        client = Client()
        with anyio.fail_after(5):
            await relay.serve(spec, scope, client.receive, client.send)
        sent = b"".join(m.get("body", b"") for m in client.messages if m["type"] == "http.response.body")
        return client.status, orjson.loads(sent)["error"]["message"]

    status, message = await serve({"model": "claude-sonnet-4-5", "input": "and?", "previous_response_id": "resp_1"})
    assert status == 400
    assert message == ("previous_response_id: account 'claude-1' keeps no server-side conversation state; "
                       "send the full input instead")
    assert calls == []
    # Without the field the hook stays out of the way: translated, sent, and the upstream's error passed on.
    status, message = await serve({"model": "claude-sonnet-4-5", "input": "hi"})
    assert status == 500 and "server-side" not in message
    assert [call.path for call in calls] == ["/v1/messages"]
