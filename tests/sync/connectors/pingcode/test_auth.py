"""PingCode's client-credentials token, as the connector's ``httpx.Auth`` fetches, caches,
refreshes and guards it (FACTS.md §5.1)."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
import respx

from sync.connectors.base import ConnectionConfig
from sync.connectors.pingcode.auth import (
    PingCodeTokenAuth,
    auth_for,
    check_credentials,
)
from sync.connectors.pingcode.connector import PingCodeConnector
from sync.errors import ContractBroken, CredentialsRejected, InvalidRequest
from sync.http.client import VendorClient
from sync.http.retry import RetryPolicy
from tests.fakes import FakeClock, FakeSleep

BASE = "https://open.pingcode.com"
TOKEN_URL = f"{BASE}/v1/auth/token"
PROJECTS_URL = f"{BASE}/v1/project/projects"
SECRET = "s3cr3t-never-logged"
EMPTY_PAGE = {"page_index": 0, "page_size": 1, "total": 0, "values": []}


def token_answer(token: str = "tok-1", expires_in: float = 2_592_000) -> httpx.Response:  # noqa: S107
    return httpx.Response(
        200, json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
    )


def make_auth(clock: FakeClock, base_url: str = BASE, **kwargs: str) -> PingCodeTokenAuth:
    return PingCodeTokenAuth(
        base_url=base_url, client_id="app-1", client_secret=SECRET, clock=clock, **kwargs
    )


def client(
    sleep: FakeSleep, clock: FakeClock, auth: httpx.Auth, base_url: str = BASE
) -> VendorClient:
    return VendorClient(
        tool="pingcode",
        base_url=base_url,
        rate_limit=PingCodeConnector.rate_limit,
        auth=auth,
        retry=RetryPolicy(sleep=sleep),
        retry_after_headers=PingCodeConnector.retry_after_headers,
        clock=clock,
    )


@respx.mock
async def test_the_token_request_carries_the_client_credentials_and_calls_carry_the_bearer(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    token = respx.get(TOKEN_URL).mock(return_value=token_answer("tok-1"))
    api = respx.get(PROJECTS_URL).mock(return_value=httpx.Response(200, json=EMPTY_PAGE))

    async with client(sleep, clock, make_auth(clock)) as vendor:
        await vendor.get_json("/v1/project/projects")

    assert dict(token.calls.last.request.url.params) == {
        "grant_type": "client_credentials",
        "client_id": "app-1",
        "client_secret": SECRET,
    }
    assert "Authorization" not in token.calls.last.request.headers
    assert api.calls.last.request.headers["Authorization"] == "Bearer tok-1"


@respx.mock
async def test_the_token_is_cached_until_shortly_before_it_expires(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    token = respx.get(TOKEN_URL).mock(side_effect=[token_answer("tok-1"), token_answer("tok-2")])
    api = respx.get(PROJECTS_URL).mock(return_value=httpx.Response(200, json=EMPTY_PAGE))
    auth = make_auth(clock)

    async with client(sleep, clock, auth) as vendor:
        await vendor.get_json("/v1/project/projects")
        clock.advance(timedelta(days=29, hours=23).total_seconds())
        await vendor.get_json("/v1/project/projects")
        assert token.call_count == 1
        clock.advance(timedelta(minutes=55).total_seconds())  # inside the refresh margin
        await vendor.get_json("/v1/project/projects")

    assert token.call_count == 2
    assert api.calls.last.request.headers["Authorization"] == "Bearer tok-2"
    assert auth.token_requests == 2


@respx.mock
async def test_an_absolute_epoch_expires_in_is_recognised(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    one_hour_later = clock.now.timestamp() + 3600
    respx.get(TOKEN_URL).mock(return_value=token_answer(expires_in=one_hour_later))
    respx.get(PROJECTS_URL).mock(return_value=httpx.Response(200, json=EMPTY_PAGE))
    auth = make_auth(clock)

    async with client(sleep, clock, auth) as vendor:
        await vendor.get_json("/v1/project/projects")

    assert auth.expires_at == clock.now + timedelta(minutes=50)


@respx.mock
async def test_the_expires_in_unit_can_be_declared_per_connection(clock: FakeClock) -> None:
    auth = auth_for(
        BASE,
        {"client_id": "app-1", "client_secret": SECRET},
        {"token_expires_in": "seconds"},
        clock=clock,
    )
    assert auth._lifetime(2_000_000_000, clock.now) == timedelta(seconds=2_000_000_000)
    with pytest.raises(InvalidRequest, match="token_expires_in"):
        make_auth(clock, expires_in_unit="fortnights")


@respx.mock
async def test_a_401_on_a_cached_token_refreshes_once_and_resends(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    token = respx.get(TOKEN_URL).mock(side_effect=[token_answer("old"), token_answer("new")])
    api = respx.get(PROJECTS_URL).mock(
        side_effect=[
            httpx.Response(200, json=EMPTY_PAGE),
            httpx.Response(401, json={"code": "100000", "message": "token expired"}),
            httpx.Response(200, json=EMPTY_PAGE),
        ]
    )
    async with client(sleep, clock, make_auth(clock)) as vendor:
        await vendor.get_json("/v1/project/projects")
        await vendor.get_json("/v1/project/projects")

    assert token.call_count == 2
    assert [c.request.headers["Authorization"] for c in api.calls] == [
        "Bearer old",
        "Bearer old",
        "Bearer new",
    ]


@respx.mock
async def test_a_401_on_a_fresh_token_is_rejected_credentials_without_a_loop(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    token = respx.get(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS_URL).mock(return_value=httpx.Response(401, json={"code": "100000"}))
    async with client(sleep, clock, make_auth(clock)) as vendor:
        with pytest.raises(CredentialsRejected):
            await vendor.get_json("/v1/project/projects")
    assert token.call_count == 1


@pytest.mark.parametrize("status", [400, 401, 403])
@respx.mock
async def test_refused_client_credentials_surface_as_credentials_rejected(
    sleep: FakeSleep, clock: FakeClock, status: int
) -> None:
    respx.get(TOKEN_URL).mock(
        return_value=httpx.Response(status, json={"code": "100000", "message": "invalid client"})
    )
    api = respx.get(PROJECTS_URL)
    async with client(sleep, clock, make_auth(clock)) as vendor:
        with pytest.raises(CredentialsRejected) as caught:
            await vendor.get_json("/v1/project/projects")

    error = caught.value
    assert error.endpoint == "GET /v1/auth/token"
    assert error.details["status"] == status
    assert error.details["vendor_code"] == "100000"
    assert SECRET not in str(error.to_dict())
    assert not api.called


@respx.mock
async def test_a_throttled_token_request_is_retried_after_x_pc_retry_after(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(
                429,
                headers={"x-pc-retry-after": "9"},
                json={"code": "100038", "message": "请求频率过高"},
            ),
            token_answer(),
        ]
    )
    respx.get(PROJECTS_URL).mock(return_value=httpx.Response(200, json=EMPTY_PAGE))
    async with client(sleep, clock, make_auth(clock)) as vendor:
        await vendor.get_json("/v1/project/projects")
    assert sleep.calls == [9.0]


@respx.mock
async def test_a_token_answer_without_a_token_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(TOKEN_URL).mock(return_value=httpx.Response(200, json={"token_type": "Bearer"}))
    async with client(sleep, clock, make_auth(clock)) as vendor:
        with pytest.raises(ContractBroken):
            await vendor.get_json("/v1/project/projects")


@respx.mock
async def test_a_private_deployment_gets_its_token_under_its_open_root(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    private = "https://pingcode.quotes.example.com/open"
    token = respx.get(f"{private}/v1/auth/token").mock(return_value=token_answer())
    respx.get(f"{private}/v1/project/projects").mock(
        return_value=httpx.Response(200, json=EMPTY_PAGE)
    )
    config = ConnectionConfig(
        base_url=private + "/", credentials={"client_id": "app-1", "client_secret": SECRET}
    )
    async with client(sleep, clock, PingCodeConnector.auth(config), base_url=private) as vendor:
        await vendor.get_json("/v1/project/projects")
    assert token.called


@respx.mock
async def test_neither_secret_nor_token_reaches_the_httpx_log(
    sleep: FakeSleep, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    respx.get(TOKEN_URL).mock(return_value=token_answer("tok-visible-nowhere"))
    respx.get(PROJECTS_URL).mock(return_value=httpx.Response(200, json=EMPTY_PAGE))
    auth = make_auth(clock)
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        async with client(sleep, clock, auth) as vendor:
            await vendor.get_json("/v1/project/projects")
    assert "/v1/auth/token" in caplog.text
    assert SECRET not in caplog.text
    assert "tok-visible-nowhere" not in caplog.text
    assert SECRET not in repr(auth)


def test_the_auth_is_async_only(clock: FakeClock) -> None:
    with (
        httpx.Client(auth=make_auth(clock)) as sync_client,
        pytest.raises(RuntimeError, match="async-only"),
    ):
        sync_client.get(PROJECTS_URL)


@pytest.mark.parametrize(
    ("credentials", "missing"),
    [
        ({}, "client_id, client_secret"),
        ({"client_id": "app-1"}, "client_secret"),
        ({"client_id": "", "client_secret": "x"}, "client_id"),
    ],
)
def test_missing_credentials_are_named(credentials: dict[str, str], missing: str) -> None:
    with pytest.raises(InvalidRequest, match=f"missing: {missing}$"):
        check_credentials(credentials)
