"""The PingCode connector against respx routes: the exact requests it makes and what it yields
(FACTS.md §5)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import respx

from sync.connectors.base import ConnectionConfig, WebhookRequest
from sync.connectors.pingcode.connector import PingCodeConnector, VendorCount
from sync.connectors.pingcode.payloads import PingCodeVersion, PingCodeWorkItem
from sync.errors import (
    ContractBroken,
    CredentialsRejected,
    InvalidRequest,
    RateLimited,
    WebhookRejected,
)
from sync.http.client import VendorClient
from sync.http.retry import RetryPolicy
from sync.model import Resource
from tests.fakes import FakeClock, FakeSleep

BASE = "https://open.pingcode.com"
CREDENTIALS = {"client_id": "app-1", "client_secret": "s3cret"}
PROJECTS = f"{BASE}/v1/project/projects"
WORK_ITEMS = f"{BASE}/v1/project/work_items"
RECEIVER = "https://pmbridge.example.com/webhooks/7"

T = TypeVar("T")


def envelope(
    values: list[dict[str, Any]], *, total: int | None = None, index: int = 0
) -> dict[str, Any]:
    return {
        "page_index": index,
        "page_size": 100,
        "total": len(values) if total is None else total,
        "values": values,
    }


def project(n: int, identifier: str | None = None, kind: str = "scrum") -> dict[str, Any]:
    return {
        "id": f"p{n:02d}",
        "identifier": identifier or f"P{n}",
        "name": f"项目 {n}",
        "type": kind,
    }


def item(
    n: int,
    *,
    updated: int = 1_795_000_000,
    kind: str = "task",
    deleted: int = 0,
    project_id: str = "p01",
) -> dict[str, Any]:
    return {
        "id": f"w{n:03d}",
        "identifier": f"P1-{n}",
        "title": f"报价任务 {n}",
        "type": kind,
        "project": {"id": project_id},
        "state": {"id": "s1", "name": "新建", "type": "pending"},
        "updated_at": updated,
        "is_deleted": deleted,
        "is_archived": 0,
    }


def connector(
    sleep: FakeSleep, clock: FakeClock, *, scope: tuple[str, ...] = (), **options: Any
) -> PingCodeConnector:
    config = ConnectionConfig(base_url=BASE, credentials=CREDENTIALS, scope=scope, options=options)
    client = VendorClient(
        tool="pingcode",
        base_url=BASE,
        rate_limit=PingCodeConnector.rate_limit,
        auth=PingCodeConnector.auth(config),
        retry=RetryPolicy(sleep=sleep),
        retry_after_headers=PingCodeConnector.retry_after_headers,
        clock=clock,
    )
    return PingCodeConnector(client, config)


@pytest.fixture(autouse=True)
def token_route(respx_mock: respx.MockRouter) -> respx.Route:
    return respx_mock.get(f"{BASE}/v1/auth/token").mock(
        return_value=httpx.Response(
            200, json={"access_token": "tok", "token_type": "Bearer", "expires_in": 2592000}
        )
    )


def mock_projects(respx_mock: respx.MockRouter, *projects: dict[str, Any]) -> respx.Route:
    return respx_mock.get(PROJECTS).mock(
        return_value=httpx.Response(200, json=envelope(list(projects)))
    )


async def collect(pages: AsyncIterator[T]) -> list[T]:
    return [page async for page in pages]


def test_the_declared_facts_cite_the_vendor_notes() -> None:
    assert PingCodeConnector.default_base_url == "https://open.pingcode.com"
    limit = PingCodeConnector.rate_limit
    assert (limit.requests, limit.per_seconds) == (200, 60.0)
    assert "§5.4" in limit.source
    assert PingCodeConnector.retry_after_headers == (
        "x-pc-retry-after",
        "X-RateLimit-Retry-After",
        "Retry-After",
    )
    assert PingCodeConnector.page_size == 100


# -- projects -------------------------------------------------------------------------------


async def test_projects_are_paged_to_exhaustion_by_page_index(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    route = respx_mock.get(PROJECTS).mock(
        side_effect=[
            httpx.Response(200, json=envelope([project(1), project(2)], total=3)),
            httpx.Response(200, json=envelope([project(3)], total=3, index=1)),
        ]
    )
    pages = await collect(connector(sleep, clock, page_size=2).fetch(Resource.PROJECTS, None))

    assert [p.id for p in pages[0].items] == ["p01", "p02", "p03"]
    assert pages[0].raw == [project(1), project(2), project(3)]  # as received
    assert [dict(c.request.url.params) for c in route.calls] == [
        {"page_index": "0", "page_size": "2"},
        {"page_index": "1", "page_size": "2"},
    ]
    assert route.calls.last.request.headers["Authorization"] == "Bearer tok"


async def test_scope_entries_match_a_project_id_or_identifier(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_projects(respx_mock, project(1, "QT"), project(2, "CPQ"), project(3, "DSC"))
    pages = await collect(
        connector(sleep, clock, scope=("qt", "p03")).fetch(Resource.PROJECTS, None)
    )
    assert [p.identifier for p in pages[0].items] == ["QT", "DSC"]


# -- work items -----------------------------------------------------------------------------


async def test_a_full_sync_asks_for_deleted_and_archived_items_of_the_scoped_projects(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_projects(respx_mock, project(1), project(2))
    page_one = [item(n, updated=1_795_000_000 + n) for n in range(100)]
    page_two = [
        item(100, updated=1_795_000_500),
        item(101, deleted=1, updated=1_795_000_900),
        item(102, kind="milestone"),
    ]
    route = respx_mock.get(WORK_ITEMS).mock(
        side_effect=[
            httpx.Response(200, json=envelope(page_one, total=103)),
            httpx.Response(200, json=envelope(page_two, total=103, index=1)),
        ]
    )
    pingcode = connector(sleep, clock)
    pages = await collect(pingcode.fetch(Resource.WORK_ITEMS, None))

    first, second = (dict(c.request.url.params) for c in route.calls)
    assert first == {
        "project_ids": "p01,p02",
        "include_deleted": "true",
        "include_archived": "true",
        "page_index": "0",
        "page_size": "100",
    }
    assert second["page_index"] == "1"
    assert [len(p.items) for p in pages] == [100, 1, 0]
    assert pages[1].deleted_ids == ("w101",)
    assert pages[1].raw == [page_two[0]]  # the milestone item is a milestone, not a work item
    assert all(isinstance(i, PingCodeWorkItem) for p in pages for i in p.items)
    # The list order is undocumented: only the finished listing moves the cursor.
    assert [p.cursor for p in pages] == [None, None, {"since": 1_795_000_900}]
    assert pingcode.vendor_count == VendorCount(reported=103, received=103, deleted=1, milestones=1)
    assert pingcode.vendor_count.live == 101


async def test_incremental_sync_asks_from_the_cursor_minus_the_overlap(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_projects(respx_mock, project(1))
    route = respx_mock.get(WORK_ITEMS).mock(
        return_value=httpx.Response(200, json=envelope([item(1, updated=1_795_000_100)]))
    )
    cursor = {"since": 1_795_000_000}
    pages = await collect(
        connector(sleep, clock, overlap_seconds=120).fetch(Resource.WORK_ITEMS, cursor)
    )

    params = route.calls.last.request.url.params
    assert params["updated_between"] == "1794999880,"  # open upper bound, epoch seconds
    assert params["include_deleted"] == "true"
    assert [p.cursor for p in pages] == [cursor, {"since": 1_795_000_100}]


async def test_an_incremental_sync_with_nothing_new_keeps_the_cursor(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_projects(respx_mock, project(1))
    respx_mock.get(WORK_ITEMS).mock(return_value=httpx.Response(200, json=envelope([])))
    cursor = {"since": 1_795_000_000}
    pages = await collect(connector(sleep, clock).fetch(Resource.WORK_ITEMS, cursor))
    assert [(p.items, p.cursor) for p in pages] == [([], cursor)]


async def test_more_than_twenty_projects_are_asked_for_in_batches(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_projects(respx_mock, *(project(n) for n in range(1, 22)))
    route = respx_mock.get(WORK_ITEMS).mock(return_value=httpx.Response(200, json=envelope([])))
    await collect(connector(sleep, clock).fetch(Resource.WORK_ITEMS, None))
    batches = [c.request.url.params["project_ids"].split(",") for c in route.calls]
    assert [len(b) for b in batches] == [20, 1]
    assert batches[1] == ["p21"]


@pytest.mark.parametrize("header", ["x-pc-retry-after", "X-RateLimit-Retry-After"])
async def test_a_429_is_waited_out_by_either_retry_header(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock, header: str
) -> None:
    respx_mock.get(PROJECTS).mock(
        side_effect=[
            httpx.Response(
                429, headers={header: "7"}, json={"code": "100038", "message": "请求频率过高"}
            ),
            httpx.Response(200, json=envelope([project(1)])),
        ]
    )
    pages = await collect(connector(sleep, clock).fetch(Resource.PROJECTS, None))
    assert len(pages[0].items) == 1
    assert sleep.calls == [7.0]


async def test_a_429_that_outlasts_the_retries_is_rate_limited(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    respx_mock.get(PROJECTS).mock(
        return_value=httpx.Response(
            429, headers={"x-pc-retry-after": "900"}, json={"code": "100038"}
        )
    )
    with pytest.raises(RateLimited):
        await connector(sleep, clock).check()


async def test_a_401_after_a_fresh_token_rejects_the_credentials(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    respx_mock.get(PROJECTS).mock(return_value=httpx.Response(401, json={"code": "100000"}))
    with pytest.raises(CredentialsRejected):
        await connector(sleep, clock).check()


async def test_a_malformed_item_breaks_the_page_contract(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_projects(respx_mock, project(1))
    broken = item(2)
    broken["state"] = "新建"
    respx_mock.get(WORK_ITEMS).mock(
        return_value=httpx.Response(200, json=envelope([item(1), broken]))
    )
    with pytest.raises(ContractBroken) as caught:
        await collect(connector(sleep, clock).fetch(Resource.WORK_ITEMS, None))
    assert caught.value.details["item_index"] == 1
    assert caught.value.details["vendor_id"] == "w002"
    assert "state" in caught.value.details["reason"]


async def test_a_page_without_the_envelope_breaks_the_contract(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    respx_mock.get(PROJECTS).mock(return_value=httpx.Response(200, json={"data": []}))
    with pytest.raises(ContractBroken, match="envelope"):
        await collect(connector(sleep, clock).fetch(Resource.PROJECTS, None))


async def test_unsupported_resources_are_refused(sleep: FakeSleep, clock: FakeClock) -> None:
    with pytest.raises(InvalidRequest):
        await collect(connector(sleep, clock).fetch(Resource.PEOPLE, None))


# -- milestones -----------------------------------------------------------------------------


async def test_milestones_are_versions_and_milestone_work_items(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    mock_projects(respx_mock, project(1, "QT", "waterfall"))
    versions = json.loads((payloads / "pingcode" / "versions.page.json").read_text())
    respx_mock.get(f"{PROJECTS}/p01/versions").mock(return_value=httpx.Response(200, json=versions))
    items = respx_mock.get(WORK_ITEMS).mock(
        return_value=httpx.Response(
            200,
            json=envelope([item(1, kind="milestone"), item(2, kind="milestone", deleted=1)]),
        )
    )
    pages = await collect(connector(sleep, clock).fetch(Resource.MILESTONES, None))

    version_page, item_page = pages
    assert all(isinstance(v, PingCodeVersion) for v in version_page.items)
    assert {v.pmbridge_project_id for v in version_page.items} == {"p01"}
    assert version_page.raw == versions["values"]  # the vendor's JSON, not the enrichment
    assert [i.id for i in item_page.items] == ["w001"]
    params = items.calls.last.request.url.params
    assert (params["project_ids"], params["type_ids"]) == ("p01", "milestone")
    assert "include_deleted" not in params


async def test_a_project_without_versions_still_yields_its_milestone_items(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_projects(respx_mock, project(1))
    respx_mock.get(f"{PROJECTS}/p01/versions").mock(
        return_value=httpx.Response(404, json={"code": "100000"})
    )
    respx_mock.get(WORK_ITEMS).mock(
        return_value=httpx.Response(
            200, json=envelope([item(1, kind="里程碑"), item(2, kind="task")])
        )
    )
    pages = await collect(
        connector(sleep, clock, milestone_type_ids=[]).fetch(Resource.MILESTONES, None)
    )
    assert [[i.id for i in p.items] for p in pages] == [["w001"]]


# -- fetch_one -------------------------------------------------------------------------------


async def test_fetch_one_reads_the_201_single_resource(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    respx_mock.get(f"{WORK_ITEMS}/w001").mock(return_value=httpx.Response(201, json=item(1)))
    found = await connector(sleep, clock).fetch_one(Resource.WORK_ITEMS, "w001")
    assert isinstance(found, PingCodeWorkItem)
    assert found.title == "报价任务 1"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, json={"code": "100000", "message": "not found"}),
        httpx.Response(201, json=item(1, deleted=1)),
    ],
    ids=["404", "flagged deleted"],
)
async def test_fetch_one_knows_a_deleted_item_either_way(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock, answer: httpx.Response
) -> None:
    respx_mock.get(f"{WORK_ITEMS}/w001").mock(return_value=answer)
    assert await connector(sleep, clock).fetch_one(Resource.WORK_ITEMS, "w001") is None


async def test_fetch_one_finds_a_version_by_its_prefixed_id(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    mock_projects(respx_mock, project(1))
    versions = json.loads((payloads / "pingcode" / "versions.page.json").read_text())
    respx_mock.get(f"{PROJECTS}/p01/versions").mock(return_value=httpx.Response(200, json=versions))
    pingcode = connector(sleep, clock)
    found = await pingcode.fetch_one(Resource.MILESTONES, "version:6a5b4090922766581e27a1c0")
    assert isinstance(found, PingCodeVersion)
    assert found.name == "v2.0.0"
    assert await pingcode.fetch_one(Resource.MILESTONES, "version:nope") is None


# -- census ---------------------------------------------------------------------------------


async def test_census_lists_live_ids_per_project_and_reports_projects_it_cannot_see(
    respx_mock: respx.MockRouter, sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_projects(respx_mock, project(1, "QT"), project(2, "CPQ"))
    route = respx_mock.get(WORK_ITEMS).mock(
        side_effect=[
            httpx.Response(200, json=envelope([item(1), item(2, kind="milestone")])),
            httpx.Response(200, json=envelope([])),
        ]
    )
    pingcode = connector(sleep, clock, scope=("QT", "CPQ", "GONE"))
    pages = await collect(pingcode.census(Resource.WORK_ITEMS))

    assert [(p.project_vendor_id, p.ids, p.access_lost, p.scope_key) for p in pages] == [
        (None, [], True, "GONE"),
        ("p01", ["w001"], False, None),
        ("p02", [], False, None),
    ]
    first = route.calls[0].request.url.params
    assert (first["project_ids"], first["include_archived"]) == ("p01", "true")
    assert "include_deleted" not in first
    assert pingcode.vendor_count is not None
    assert pingcode.vendor_count.live == 1


# -- discover ---------------------------------------------------------------------------------


async def test_discover_offers_the_mapping_defaults_and_takes_overrides(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    assert await connector(sleep, clock).discover() == {
        "time_zone": "Asia/Shanghai",
        "milestone_types": ["milestone", "里程碑"],
        "estimate_field": "story_points",
    }
    facts = await connector(
        sleep,
        clock,
        time_zone="Europe/Berlin",
        estimate_field="estimated_workload",
        site_url="https://quotes.pingcode.com",
    ).discover()
    assert facts["time_zone"] == "Europe/Berlin"
    assert facts["estimate_field"] == "estimated_workload"
    assert facts["site_url"] == "https://quotes.pingcode.com"


# -- webhooks ---------------------------------------------------------------------------------


def delivery(payloads: Path) -> bytes:
    return (payloads / "pingcode" / "webhook.default-template.json").read_bytes()


def test_a_token_header_authenticates_a_flow_delivery(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    request = WebhookRequest(body=delivery(payloads), headers={"x-pmbridge-token": "flow-secret"})
    connector(sleep, clock).verify_webhook(request, "flow-secret")


def test_a_token_query_parameter_of_the_receiver_url_authenticates_too(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    request = WebhookRequest(
        body=delivery(payloads), headers={}, url=f"{RECEIVER}?token=flow-secret"
    )
    connector(sleep, clock).verify_webhook(request, "flow-secret")


@pytest.mark.parametrize(
    ("headers", "url"),
    [
        ({"X-Pmbridge-Token": "guess"}, RECEIVER),
        ({}, f"{RECEIVER}?token=guess"),
        ({}, RECEIVER),
        ({"X-Pmbridge-Token": ""}, RECEIVER),
        ({"X-Other-Token": "flow-secret"}, RECEIVER),
    ],
    ids=["wrong header", "wrong query", "nothing", "empty", "another header"],
)
def test_deliveries_without_the_shared_secret_are_rejected(
    sleep: FakeSleep, clock: FakeClock, payloads: Path, headers: dict[str, str], url: str
) -> None:
    request = WebhookRequest(body=delivery(payloads), headers=headers, url=url)
    with pytest.raises(WebhookRejected):
        connector(sleep, clock).verify_webhook(request, "flow-secret")


def test_the_token_header_and_parameter_are_options(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    pingcode = connector(sleep, clock, webhook_token_header="X-Flow-Key", webhook_token_param="k")
    pingcode.verify_webhook(
        WebhookRequest(body=delivery(payloads), headers={"X-Flow-Key": "flow-secret"}),
        "flow-secret",
    )
    pingcode.verify_webhook(
        WebhookRequest(body=b"{}", headers={}, url=f"{RECEIVER}?k=flow-secret"), "flow-secret"
    )


def test_a_token_says_nothing_about_the_body(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    # PingCode signs nothing (FACTS.md §5.5): in token mode the body's integrity is TLS's job.
    tampered = WebhookRequest(
        body=delivery(payloads) + b" ", headers={"X-Pmbridge-Token": "flow-secret"}
    )
    connector(sleep, clock).verify_webhook(tampered, "flow-secret")


def test_hmac_mode_checks_a_signature_over_the_raw_body(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    body = delivery(payloads)
    signature = "sha256=" + hmac.new(b"relay-key", body, hashlib.sha256).hexdigest()
    pingcode = connector(sleep, clock, webhook_auth="hmac-sha256")
    pingcode.verify_webhook(
        WebhookRequest(body=body, headers={"X-Pmbridge-Signature": signature}), "relay-key"
    )
    for forged in (
        WebhookRequest(body=body + b" ", headers={"X-Pmbridge-Signature": signature}),
        WebhookRequest(body=body, headers={"X-Pmbridge-Token": "relay-key"}),
    ):
        with pytest.raises(WebhookRejected):
            pingcode.verify_webhook(forged, "relay-key")


def test_an_unknown_webhook_auth_mode_is_a_configuration_error(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    with pytest.raises(InvalidRequest, match="webhook_auth"):
        connector(sleep, clock, webhook_auth="none").verify_webhook(
            WebhookRequest(body=b"{}", headers={}), "x"
        )


def test_the_default_template_names_the_work_item_to_refetch(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    notices = connector(sleep, clock).parse_webhook(
        WebhookRequest(body=delivery(payloads), headers={})
    )
    assert [(n.resource, n.vendor_id, n.deleted) for n in notices] == [
        (Resource.WORK_ITEMS, "6a625eb326e875555790f82e", False)
    ]


def test_a_deleted_event_and_a_custom_id_path(sleep: FakeSleep, clock: FakeClock) -> None:
    body = json.dumps({"trigger": "work_item.deleted", "data": {"items": [{"id": "w9"}]}})
    notices = connector(
        sleep, clock, webhook_id_path="data.items.0.id", webhook_event_path="trigger"
    ).parse_webhook(WebhookRequest(body=body.encode(), headers={}))
    assert [(n.vendor_id, n.deleted) for n in notices] == [("w9", True)]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"event": "work_item.updated"}', b'{"work_item": {"id": true}}'],
    ids=["not JSON", "a list", "no id", "a boolean id"],
)
def test_a_body_that_is_not_the_template_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock, body: bytes
) -> None:
    with pytest.raises(ContractBroken):
        connector(sleep, clock).parse_webhook(WebhookRequest(body=body, headers={}))


def test_a_delivery_id_is_a_digest_of_the_body(sleep: FakeSleep, clock: FakeClock) -> None:
    pingcode = connector(sleep, clock)
    one = pingcode.delivery_id(WebhookRequest(body=b'{"a":1}', headers={}))
    again = pingcode.delivery_id(WebhookRequest(body=b'{"a":1}', headers={"X": "y"}))
    other = pingcode.delivery_id(WebhookRequest(body=b'{"a":2}', headers={}))
    assert one == again != other
    assert one == hashlib.sha256(b'{"a":1}').hexdigest()
