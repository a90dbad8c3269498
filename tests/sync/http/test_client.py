"""The shared vendor client: retries, Retry-After, error classification, request counting."""

from __future__ import annotations

import random
from datetime import timedelta

import httpx
import pytest
import respx

from sync.errors import (
    AccessLost,
    ContractBroken,
    CredentialsRejected,
    InsecureBaseUrl,
    RateLimited,
    VendorUnavailable,
)
from sync.http.client import VendorClient, VendorNotFound, VendorRejected, check_base_url
from sync.http.rate_limit import RateLimit
from sync.http.retry import RetryPolicy
from tests.fakes import FakeClock, FakeSleep

BASE = "https://vendor.example.com"


def make_client(sleep: FakeSleep, clock: FakeClock, **retry: float) -> VendorClient:
    policy = RetryPolicy(
        max_attempts=int(retry.get("max_attempts", 4)),
        max_total_wait=retry.get("max_total_wait", 60.0),
        sleep=sleep,
        rng=random.Random(1),
    )
    return VendorClient(
        tool="test",
        base_url=BASE,
        rate_limit=RateLimit(1000, 1.0),
        retry=policy,
        clock=clock,
    )


@respx.mock
async def test_429_then_success_waits_the_vendors_retry_after(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    route = respx.get(f"{BASE}/items").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    async with make_client(sleep, clock) as client:
        assert await client.get_json("/items") == {"ok": True}
        assert client.requests == 2
    assert route.call_count == 2
    assert sleep.calls == [7.0]


@respx.mock
async def test_503_without_retry_after_backs_off_exponentially_then_gives_up(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(503, text="<html>down</html>"))
    async with make_client(sleep, clock) as client:
        with pytest.raises(VendorUnavailable) as caught:
            await client.get_json("/items")
    assert len(sleep.calls) == 3  # four attempts, three waits
    assert all(0 <= wait <= 0.5 * 2**i for i, wait in enumerate(sleep.calls))
    assert caught.value.details["status"] == 503
    assert caught.value.details["endpoint"] == "GET /items"


@respx.mock
async def test_a_429_that_outlasts_the_retry_budget_reports_when_to_resume(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{BASE}/items").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "600"})
    )
    async with make_client(sleep, clock, max_total_wait=120) as client:
        with pytest.raises(RateLimited) as caught:
            await client.get_json("/items")
    assert sleep.calls == []  # waiting 600 s would break the budget: stop at once
    assert caught.value.retry_at == clock.now + timedelta(seconds=600)


@respx.mock
async def test_transport_errors_are_retried(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.get(f"{BASE}/items").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=[1])]
    )
    async with make_client(sleep, clock) as client:
        assert await client.get_json("/items") == [1]
    assert len(sleep.calls) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, CredentialsRejected),
        (403, AccessLost),
        (404, VendorNotFound),
        (400, VendorRejected),
        (500, VendorUnavailable),
    ],
)
@respx.mock
async def test_other_statuses_are_classified_without_retrying(
    sleep: FakeSleep, clock: FakeClock, status: int, error: type[Exception]
) -> None:
    route = respx.get(f"{BASE}/items").mock(return_value=httpx.Response(status, json={}))
    async with make_client(sleep, clock) as client:
        with pytest.raises(error):
            await client.get_json("/items")
    assert route.call_count == 1
    assert sleep.calls == []


@respx.mock
async def test_a_body_that_is_not_json_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(200, text="<html>login</html>"))
    async with make_client(sleep, clock) as client:
        with pytest.raises(ContractBroken, match="not JSON") as caught:
            await client.get_json("/items")
    assert caught.value.details["body_excerpt"] == "<html>login</html>"


@respx.mock
async def test_query_secrets_never_appear_in_errors(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(401))
    async with make_client(sleep, clock) as client:
        with pytest.raises(CredentialsRejected) as caught:
            await client.get_json("/items", params={"token": "s3cret"})
    assert "s3cret" not in str(caught.value.to_dict())


@pytest.mark.parametrize(
    "url",
    ["https://x.atlassian.net", "http://127.0.0.1:8101", "http://localhost:1", "http://[::1]:9"],
)
def test_https_or_loopback_http_base_urls_are_accepted(url: str) -> None:
    assert check_base_url(url + "/") == url


@pytest.mark.parametrize("url", ["http://jira.example.com", "http://10.0.0.5", "ftp://x", "jira"])
def test_plain_http_to_a_network_host_is_refused(url: str) -> None:
    with pytest.raises(InsecureBaseUrl):
        check_base_url(url)


@respx.mock
async def test_a_429_without_retry_after_waits_the_declared_window(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{BASE}/items").mock(
        side_effect=[
            httpx.Response(429, json={"error": "API_TOKEN_LIMIT_EXCEEDED"}),
            httpx.Response(200, json=[]),
        ]
    )
    client = VendorClient(
        tool="trello",
        base_url=BASE,
        rate_limit=RateLimit(100, 10.0),
        retry=RetryPolicy(sleep=sleep),
        clock=clock,
        throttle_wait=10.0,
    )
    async with client:
        assert await client.get_json("/items") == []
    assert sleep.calls == [10.0]


@respx.mock
async def test_a_create_that_may_have_been_acted_on_is_not_sent_twice(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    """A 502 or a read timeout may come after the vendor made the webhook: a second POST
    could make a second one, so the error goes to the caller instead."""
    route = respx.post(f"{BASE}/webhooks").mock(
        side_effect=[httpx.Response(502), httpx.ReadTimeout("slow")]
    )
    async with make_client(sleep, clock) as client:
        with pytest.raises(VendorUnavailable) as first:
            await client.request_json("POST", "/webhooks", json_body={}, creates=True)
        with pytest.raises(VendorUnavailable) as second:
            await client.request_json("POST", "/webhooks", json_body={}, creates=True)
    assert route.call_count == 2
    assert sleep.calls == []
    assert first.value.details["status"] == 502
    assert "may have acted on it" in second.value.message


@respx.mock
async def test_a_create_the_vendor_surely_refused_is_retried(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    route = respx.post(f"{BASE}/webhooks").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(200, json={"id": "w1"}),
        ]
    )
    async with make_client(sleep, clock) as client:
        answer = await client.request_json("POST", "/webhooks", json_body={}, creates=True)
    assert answer == {"id": "w1"}
    assert route.call_count == 3
    assert sleep.calls[1] == 3.0


@respx.mock
async def test_a_read_by_post_is_retried_like_any_read(sleep: FakeSleep, clock: FakeClock) -> None:
    route = respx.post(f"{BASE}/search").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"issues": []})]
    )
    async with make_client(sleep, clock) as client:
        assert await client.request_json("POST", "/search", json_body={}) == {"issues": []}
    assert route.call_count == 2
