"""The OAuth Bearer flow: the token put on, refreshed and resent once on a 401, never twice, errors out of send."""

from __future__ import annotations

import time
from typing import Any, AsyncIterator, Callable

import anyio
import httpx
import pytest

from aiproxy.adapters.bearer import OAuthBearer
from aiproxy.oauth.providers import oauth_providers
from aiproxy.oauth.tokens import ReauthorizationRequired, TokenManager
from aiproxy.stores.entities import Account
from tests.fakes.oauth_provider import TOKEN_HOST, FakeTokenEndpoint, oauth_settings

pytestmark = pytest.mark.anyio

ACCOUNT = Account(name="max-1", platform="claude", type="claude-official", id=3)
UPSTREAM = "https://upstream.test/v1/messages?beta=true"


def fresh() -> dict[str, Any]:
    return {"access_token": "at-live", "refresh_token": "rt-live", "expires_at": int(time.time()) + 3600}


class Body(httpx.AsyncByteStream):
    """An upstream body that says when it is closed; `hold` keeps it from ending until set."""

    def __init__(self, content: bytes, hold: anyio.Event | None = None) -> None:
        self.content = content
        self.hold = hold
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.content
        if self.hold is not None:
            await self.hold.wait()

    async def aclose(self) -> None:
        self.closed = True


class Rig:
    """A client whose upstream refuses the tokens in `refuse` (401), and the token endpoint beside it."""

    def __init__(self, refuse: set[str] = frozenset(), endpoint: FakeTokenEndpoint | None = None,
                 body: Callable[[int], Body] | None = None) -> None:
        self.refuse = refuse
        self.endpoint = endpoint or FakeTokenEndpoint()
        self.body = body or (lambda status: Body(b'{"status": %d}' % status))
        self.sent: list[httpx.Request] = []
        self.bodies: list[Body] = []
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self._route))
        self.tokens = TokenManager(oauth_providers(oauth_settings()), self.client, self._save)

    async def _save(self, account_id: int, credentials: dict[str, Any]) -> None:
        return None

    async def _route(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == TOKEN_HOST:
            return await self.endpoint.handle(request)
        await request.aread()
        self.sent.append(request)
        status = 401 if request.headers["authorization"].removeprefix("Bearer ") in self.refuse else 200
        body = self.body(status)
        self.bodies.append(body)
        return httpx.Response(status, stream=body)

    async def send(self, auth: OAuthBearer) -> httpx.Response:
        request = self.client.build_request("POST", UPSTREAM, content=b'{"hi": 1}',
                                            headers=[(b"content-type", b"application/json")])
        return await self.client.send(request, stream=True, auth=auth)

    def bearer(self, credentials: dict[str, Any] | None = None) -> OAuthBearer:
        return OAuthBearer(self.tokens, ACCOUNT, credentials or fresh())


async def test_token_put_on_and_the_response_left_unread(anyio_backend: str):
    rig = Rig()
    async with rig.client:
        response = await rig.send(rig.bearer())
        assert not response.is_stream_consumed and not rig.bodies[0].closed  # stream=True kept
        await response.aclose()
    [request] = rig.sent
    assert request.headers["authorization"] == "Bearer at-live"
    assert rig.endpoint.requests == []


async def test_refused_token_refreshed_once_and_the_same_request_resent(anyio_backend: str):
    rig = Rig(refuse={"at-live"})
    async with rig.client:
        bearer = rig.bearer()
        response = await rig.send(bearer)
        assert response.status_code == 200
        await response.aclose()
        # A later call of the same request starts from the new token: no second refresh.
        await (await rig.send(bearer)).aclose()
    first, second, third = rig.sent
    assert first is not second  # the refused request stays as it was sent
    assert first.headers["authorization"] == "Bearer at-live"
    assert second.headers["authorization"] == third.headers["authorization"] == "Bearer at-refresh1"
    assert (second.method, str(second.url), second.content) == (first.method, str(first.url), first.content)
    assert [k for k, _ in second.headers.raw] == [k for k, _ in first.headers.raw]
    assert [r["refresh_token"] for r in rig.endpoint.refresh_requests] == ["rt-live"]
    assert rig.bodies[0].closed  # the 401 was read and closed before the resend


async def test_refused_twice_is_the_answer_with_no_second_retry(anyio_backend: str):
    rig = Rig(refuse={"at-live", "at-refresh1"})
    async with rig.client:
        response = await rig.send(rig.bearer())
        assert response.status_code == 401
        assert await response.aread() == b'{"status": 401}'
        await response.aclose()
    assert [r.headers["authorization"] for r in rig.sent] == ["Bearer at-live", "Bearer at-refresh1"]
    assert len(rig.endpoint.refresh_requests) == 1


async def test_no_usable_token_raises_out_of_send_with_nothing_sent(anyio_backend: str):
    rig = Rig(endpoint=FakeTokenEndpoint(refused_refresh_tokens={"rt-live"}))
    async with rig.client:
        with pytest.raises(ReauthorizationRequired) as caught:
            await rig.send(rig.bearer({**fresh(), "expires_at": int(time.time()) - 5}))
    assert rig.sent == [] and caught.value.status == 401


async def test_refresh_refused_after_a_401_raises_and_closes_the_401(anyio_backend: str):
    rig = Rig(refuse={"at-live"}, endpoint=FakeTokenEndpoint(refused_refresh_tokens={"rt-live"}))
    async with rig.client:
        with pytest.raises(ReauthorizationRequired):
            await rig.send(rig.bearer())
    assert len(rig.sent) == 1 and rig.bodies[0].closed


async def test_cancelled_inside_the_flow_closes_the_upstream_response(anyio_backend: str):
    # The 401's body never ends: the flow is inside it (reading it before the
    # refresh) when the client goes away.
    hold = anyio.Event()
    rig = Rig(refuse={"at-live"}, body=lambda status: Body(b"{", hold if status == 401 else None))
    async with rig.client:
        with anyio.move_on_after(0.2) as scope:
            await rig.send(rig.bearer())
        assert scope.cancelled_caught
    assert len(rig.sent) == 1 and rig.bodies[0].closed and rig.endpoint.requests == []


async def test_cancelled_during_the_refresh_closes_the_upstream_response_and_sends_nothing(anyio_backend: str):
    rig = Rig(refuse={"at-live"}, endpoint=FakeTokenEndpoint(delay=0.5))
    async with rig.client:
        with anyio.move_on_after(0.2) as scope:
            await rig.send(rig.bearer())
        assert scope.cancelled_caught
        assert len(rig.sent) == 1 and rig.bodies[0].closed
        await anyio.sleep(0.5)  # the refresh itself runs on (shielded) and ends
    assert len(rig.endpoint.refresh_requests) == 1 and len(rig.sent) == 1


def test_a_sync_client_is_refused_rather_than_sent_unsigned():
    bearer = OAuthBearer(TokenManager({}, httpx.AsyncClient(), _never), ACCOUNT, fresh())
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        with pytest.raises(RuntimeError, match="AsyncClient"):
            client.get("https://upstream.test/", auth=bearer)


async def _never(account_id: int, credentials: dict[str, Any]) -> None:
    raise AssertionError("not reached")
