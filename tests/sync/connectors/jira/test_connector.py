"""The Jira connector against respx routes: the exact requests it makes and what it yields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from sync.connectors.base import ConnectionConfig, WebhookRequest
from sync.connectors.jira.connector import ISSUE_FIELDS, JiraConnector
from sync.errors import ContractBroken, CredentialsRejected, InvalidRequest, WebhookRejected
from sync.http.client import VendorClient
from sync.http.retry import RetryPolicy
from sync.model import Resource
from tests.fakes import FakeClock, FakeSleep

SITE = "https://sales-ops.atlassian.net"
CREDENTIALS = {"email": "ops@example.com", "api_token": "t0ken"}


def issue(number: int, updated: str = "2026-11-18T08:30:00.000+0100") -> dict[str, Any]:
    return {
        "id": str(10000 + number),
        "key": f"CRM-{number}",
        "fields": {
            "summary": f"Task {number}",
            "status": {"name": "To Do", "statusCategory": {"id": 2, "key": "new"}},
            "project": {"id": "10000", "key": "CRM"},
            "updated": updated,
        },
    }


def project_page(*keys: str) -> dict[str, Any]:
    values = [{"id": str(10000 + i), "key": k, "name": k.title()} for i, k in enumerate(keys)]
    return {"startAt": 0, "maxResults": 50, "total": len(values), "isLast": True, "values": values}


def connector(
    sleep: FakeSleep, clock: FakeClock, *, scope: tuple[str, ...] = ("CRM",), **options: Any
) -> JiraConnector:
    config = ConnectionConfig(base_url=SITE, credentials=CREDENTIALS, scope=scope, options=options)
    client = VendorClient(
        tool="jira",
        base_url=SITE,
        rate_limit=JiraConnector.rate_limit,
        auth=JiraConnector.auth(config),
        retry=RetryPolicy(sleep=sleep),
        clock=clock,
    )
    return JiraConnector(client, config)


def mock_myself(zone: str = "Europe/Berlin") -> respx.Route:
    return respx.get(f"{SITE}/rest/api/3/myself").mock(
        return_value=httpx.Response(200, json={"accountId": "abc", "timeZone": zone})
    )


@respx.mock
async def test_full_sync_pages_through_search_jql_with_explicit_fields(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{SITE}/rest/api/3/project/search").mock(
        return_value=httpx.Response(200, json=project_page("CRM"))
    )
    search = respx.get(f"{SITE}/rest/api/3/search/jql").mock(
        side_effect=[
            httpx.Response(
                200, json={"issues": [issue(1), issue(2)], "nextPageToken": "p2", "isLast": False}
            ),
            httpx.Response(
                200, json={"issues": [issue(3, "2026-11-19T10:00:00.000+0000")], "isLast": True}
            ),
        ]
    )
    pages = [page async for page in connector(sleep, clock).fetch(Resource.WORK_ITEMS, None)]

    assert [[i.key for i in p.items] for p in pages] == [["CRM-1", "CRM-2"], ["CRM-3"]]
    first, second = (call.request.url.params for call in search.calls)
    assert first["jql"] == 'project in ("CRM") ORDER BY updated ASC, id ASC'
    assert first["fields"] == ",".join(ISSUE_FIELDS)
    assert first["maxResults"] == "100"
    assert "nextPageToken" not in first
    assert second["nextPageToken"] == "p2"
    # Each page's cursor is the newest `updated` so far: a safe resume point.
    assert pages[0].cursor == {"since": "2026-11-18T07:30:00+00:00"}
    assert pages[1].cursor == {"since": "2026-11-19T10:00:00+00:00"}
    assert pages[0].raw[0]["key"] == "CRM-1"


@respx.mock
async def test_incremental_jql_uses_the_users_time_zone_minus_the_overlap(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_myself("America/New_York")
    respx.get(f"{SITE}/rest/api/3/field").mock(return_value=httpx.Response(200, json=[]))
    respx.get(f"{SITE}/rest/api/3/project/search").mock(
        return_value=httpx.Response(200, json=project_page("CRM", "PIPE"))
    )
    search = respx.get(f"{SITE}/rest/api/3/search/jql").mock(
        return_value=httpx.Response(200, json={"issues": [], "isLast": True})
    )
    jira = connector(sleep, clock, scope=("CRM", "PIPE"), overlap_seconds=120)
    await jira.discover()
    cursor = {"since": "2026-11-20T14:31:45+00:00"}
    pages = [page async for page in jira.fetch(Resource.WORK_ITEMS, cursor)]
    assert [page.items for page in pages] == [[]]

    # 14:29:45 UTC is 09:29 in New York (minute precision, FACTS.md §1.3).
    assert search.calls.last.request.url.params["jql"] == (
        'project in ("CRM", "PIPE") AND updated >= "2026/11/20 09:29" ORDER BY updated ASC, id ASC'
    )


@respx.mock
async def test_the_story_points_field_is_discovered_and_requested(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_myself()
    respx.get(f"{SITE}/rest/api/3/field").mock(
        return_value=httpx.Response(
            200,
            json=[
                {"id": "summary", "name": "Summary", "custom": False},
                {
                    "id": "customfield_10016",
                    "name": "Story point estimate",
                    "custom": True,
                    "schema": {
                        "type": "number",
                        "custom": "com.pyxis.greenhopper.jira:jsw-story-points",
                    },
                },
            ],
        )
    )
    jira = connector(sleep, clock)
    facts = await jira.discover()
    assert facts == {
        "site_url": SITE,
        "time_zone": "Europe/Berlin",
        "estimate_field": "customfield_10016",
    }


@respx.mock
async def test_a_configured_estimate_field_skips_discovery(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_myself()
    fields = respx.get(f"{SITE}/rest/api/3/field")
    facts = await connector(sleep, clock, estimate_field="customfield_10028").discover()
    assert facts["estimate_field"] == "customfield_10028"
    assert not fields.called


@respx.mock
async def test_basic_auth_carries_email_and_token(sleep: FakeSleep, clock: FakeClock) -> None:
    route = mock_myself()
    await connector(sleep, clock).check()
    assert route.calls.last.request.headers["Authorization"] == str(
        httpx.BasicAuth("ops@example.com", "t0ken")._auth_header
    )


@respx.mock
async def test_429_with_retry_after_is_waited_out(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.get(f"{SITE}/rest/api/3/myself").mock(
        side_effect=[
            httpx.Response(
                429, headers={"Retry-After": "5", "RateLimit-Reason": "jira-burst-based"}
            ),
            httpx.Response(200, json={"accountId": "abc"}),
        ]
    )
    await connector(sleep, clock).check()
    assert sleep.calls == [5.0]


@respx.mock
async def test_401_rejects_the_credentials(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.get(f"{SITE}/rest/api/3/myself").mock(
        return_value=httpx.Response(401, json={"errorMessages": ["Client must be authenticated"]})
    )
    with pytest.raises(CredentialsRejected):
        await connector(sleep, clock).check()


@respx.mock
async def test_a_malformed_issue_breaks_the_page_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{SITE}/rest/api/3/project/search").mock(
        return_value=httpx.Response(200, json=project_page("CRM"))
    )
    broken = issue(2)
    broken["fields"]["status"] = "Done"
    respx.get(f"{SITE}/rest/api/3/search/jql").mock(
        return_value=httpx.Response(200, json={"issues": [issue(1), broken], "isLast": True})
    )
    with pytest.raises(ContractBroken) as caught:
        [page async for page in connector(sleep, clock).fetch(Resource.WORK_ITEMS, None)]
    assert caught.value.details["item_index"] == 1
    assert caught.value.details["vendor_id"] == "10002"
    assert "fields.status" in caught.value.details["reason"]


@respx.mock
async def test_census_lists_ids_and_reports_projects_it_cannot_see(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{SITE}/rest/api/3/project/search").mock(
        return_value=httpx.Response(200, json=project_page("CRM"))
    )
    search = respx.get(f"{SITE}/rest/api/3/search/jql").mock(
        return_value=httpx.Response(
            200, json={"issues": [{"id": "10001"}, {"id": "10002"}], "isLast": True}
        )
    )
    pages = [
        p async for p in connector(sleep, clock, scope=("CRM", "GONE")).census(Resource.WORK_ITEMS)
    ]

    assert [(p.project_vendor_id, p.ids, p.access_lost, p.scope_key) for p in pages] == [
        (None, [], True, "GONE"),
        ("10000", ["10001", "10002"], False, None),
    ]
    params = search.calls.last.request.url.params
    assert params["fields"] == "id"
    assert params["jql"] == 'project = "CRM" ORDER BY id ASC'


@respx.mock
async def test_fetch_one_returns_none_for_a_deleted_issue(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{SITE}/rest/api/3/issue/10009").mock(
        return_value=httpx.Response(404, json={"errorMessages": ["Issue does not exist"]})
    )
    assert await connector(sleep, clock).fetch_one(Resource.WORK_ITEMS, "10009") is None


async def test_unsupported_resources_are_refused(sleep: FakeSleep, clock: FakeClock) -> None:
    with pytest.raises(InvalidRequest):
        [p async for p in connector(sleep, clock).fetch(Resource.PEOPLE, None)]


# -- webhooks ---------------------------------------------------------------------------------
# Atlassian's published test vector (FACTS.md §1.5).
VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_SIGNATURE = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"


def test_the_published_test_vector_verifies(sleep: FakeSleep, clock: FakeClock) -> None:
    request = WebhookRequest(body=b"Hello World!", headers={"X-Hub-Signature": VECTOR_SIGNATURE})
    connector(sleep, clock).verify_webhook(request, VECTOR_SECRET)


@pytest.mark.parametrize(
    ("body", "headers", "secret"),
    [
        (b"Hello World?", {"X-Hub-Signature": VECTOR_SIGNATURE}, VECTOR_SECRET),
        (b"Hello World!", {"X-Hub-Signature": VECTOR_SIGNATURE}, "another secret"),
        (b"Hello World!", {}, VECTOR_SECRET),
        (b"Hello World!", {"X-Hub-Signature": "md5=abc"}, VECTOR_SECRET),
        (b"Hello World!", {"X-Hub-Signature": VECTOR_SIGNATURE[:-2]}, VECTOR_SECRET),
    ],
    ids=["tampered body", "wrong secret", "no header", "unknown method", "truncated"],
)
def test_forged_webhooks_are_rejected(
    sleep: FakeSleep, clock: FakeClock, body: bytes, headers: dict[str, str], secret: str
) -> None:
    with pytest.raises(WebhookRejected):
        connector(sleep, clock).verify_webhook(WebhookRequest(body=body, headers=headers), secret)


def test_the_docs_example_parses_into_a_change_notice(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    body = (payloads / "jira" / "webhook-example.jira_issue_updated.json").read_bytes()
    notices = connector(sleep, clock).parse_webhook(WebhookRequest(body=body, headers={}))
    assert [(n.resource, n.vendor_id, n.deleted) for n in notices] == [
        (Resource.WORK_ITEMS, "99291", False)
    ]


def test_an_issue_deleted_event_is_a_deletion(sleep: FakeSleep, clock: FakeClock) -> None:
    body = json.dumps({"webhookEvent": "jira:issue_deleted", "issue": {"id": "7", "key": "X-1"}})
    notices = connector(sleep, clock).parse_webhook(WebhookRequest(body=body.encode(), headers={}))
    assert notices[0].deleted is True


def test_a_body_that_is_not_a_jira_event_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    with pytest.raises(ContractBroken):
        connector(sleep, clock).parse_webhook(WebhookRequest(body=b"[]", headers={}))


def test_jql_times_are_minute_precise(sleep: FakeSleep, clock: FakeClock) -> None:
    jira = connector(sleep, clock)
    assert jira._jql_time(datetime(2026, 1, 2, 3, 4, 59, tzinfo=UTC)) == "2026/01/02 03:04"
