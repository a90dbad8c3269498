"""The Asana connector against respx routes: the exact requests it makes and what it yields."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from sync.connectors.asana.connector import (
    CENSUS_OPT_FIELDS,
    MILESTONE_OPT_FIELDS,
    TASK_OPT_FIELDS,
    AsanaConnector,
)
from sync.connectors.asana.payloads import AsanaTask
from sync.connectors.base import (
    ConnectionConfig,
    Page,
    RegisteredWebhook,
    RegistersWebhooks,
    WebhookRequest,
)
from sync.errors import (
    ContractBroken,
    CredentialsRejected,
    InvalidRequest,
    RateLimited,
    VendorUnavailable,
    WebhookRejected,
)
from sync.http.client import VendorClient
from sync.http.retry import RetryPolicy
from sync.model import Resource
from tests.fakes import FakeClock, FakeSleep

API = "https://app.asana.com/api/1.0"
TOKEN = "2/1208400000000001/1208400000000002:s3cr3t"
WORKSPACE = "1208400000000000"
CRM = "1208400000000497"
SKO = "1208400000000607"
TASK_FIELDS = ",".join(TASK_OPT_FIELDS)


def connector(
    sleep: FakeSleep,
    clock: FakeClock,
    *,
    scope: tuple[str, ...] = (),
    max_attempts: int = 6,
    **options: Any,
) -> AsanaConnector:
    config = ConnectionConfig(
        base_url=API,
        credentials={"access_token": TOKEN},
        scope=scope,
        options={"workspace": WORKSPACE, **options},
    )
    client = VendorClient(
        tool="asana",
        base_url=API,
        rate_limit=AsanaConnector.rate_limit,
        auth=AsanaConnector.auth(config),
        retry=RetryPolicy(sleep=sleep, max_attempts=max_attempts),
        clock=clock,
    )
    return AsanaConnector(client, config)


def me(*workspaces: tuple[str, str]) -> dict[str, Any]:
    listed = workspaces or ((WORKSPACE, "Northwind Revenue"),)
    return {
        "data": {
            "gid": "21",
            "name": "Demo Admin",
            "workspaces": [{"gid": gid, "name": name} for gid, name in listed],
        }
    }


def project(gid: str, name: str, archived: bool = False) -> dict[str, Any]:
    return {"gid": gid, "name": name, "archived": archived, "permalink_url": f"{API}/p/{gid}"}


def task(
    gid: str,
    *,
    modified: str = "2026-11-18T08:30:00.000Z",
    section: str | None = "Backlog",
    project_gid: str = CRM,
    subtasks: int = 0,
    subtype: str = "default_task",
    assignee: str | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    memberships = []
    if section is not None:
        memberships.append(
            {"project": {"gid": project_gid}, "section": {"gid": "s1", "name": section}}
        )
    return {
        "gid": gid,
        "name": f"Task {gid}",
        "resource_subtype": subtype,
        "completed": False,
        "modified_at": modified,
        "assignee": {"gid": assignee, "name": f"User {assignee}"} if assignee else None,
        "memberships": memberships,
        "parent": {"gid": parent} if parent else None,
        "num_subtasks": subtasks,
    }


def page(*items: dict[str, Any], offset: str | None = None) -> dict[str, Any]:
    next_page = None
    if offset is not None:
        next_page = {"offset": offset, "path": f"/x?offset={offset}", "uri": f"{API}/x"}
    return {"data": list(items), "next_page": next_page}


def mock_me(*workspaces: tuple[str, str]) -> respx.Route:
    return respx.get(f"{API}/users/me").mock(return_value=httpx.Response(200, json=me(*workspaces)))


def mock_projects(*projects: dict[str, Any]) -> respx.Route:
    listed = projects or (project(CRM, "CRM Migration"),)
    return respx.get(f"{API}/projects").mock(return_value=httpx.Response(200, json=page(*listed)))


def mock_user(gid: str, email: str) -> respx.Route:
    return respx.get(f"{API}/users/{gid}").mock(
        return_value=httpx.Response(200, json={"data": {"gid": gid, "name": "X", "email": email}})
    )


async def pages_of(asana: AsanaConnector, resource: Resource, cursor: Any = None) -> list[Page]:
    return [p async for p in asana.fetch(resource, cursor)]


def gids(pages: list[Page]) -> list[list[str]]:
    return [[item.gid for item in p.items] for p in pages]


# -- facts, auth, discovery --------------------------------------------------------------------


def test_the_declared_facts_follow_facts_md() -> None:
    assert AsanaConnector.default_base_url == "https://app.asana.com/api/1.0"
    limit = AsanaConnector.rate_limit
    assert (limit.requests, limit.per_seconds, limit.max_in_flight) == (150, 60.0, 50)
    assert "§3.4" in limit.source
    assert AsanaConnector.retry_after_headers == ("Retry-After",)


def test_credentials_need_an_access_token() -> None:
    with pytest.raises(InvalidRequest, match="access_token"):
        AsanaConnector.check_credentials({"api_key": "x"})
    AsanaConnector.check_credentials({"access_token": "x"})


@respx.mock
async def test_check_sends_the_token_as_a_bearer_header(sleep: FakeSleep, clock: FakeClock) -> None:
    route = mock_me()
    await connector(sleep, clock).check()
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.url.params["opt_fields"] == "name,email,workspaces.name"
    assert TOKEN not in str(request.url)


@respx.mock
async def test_discover_names_the_workspace_chosen_by_name(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me((WORKSPACE, "Northwind Revenue"), ("9", "Personal Projects"))
    facts = await connector(sleep, clock, workspace="northwind revenue").discover()
    assert facts == {
        "site_url": "https://app.asana.com",
        "workspace_gid": WORKSPACE,
        "workspaces": [
            {"gid": WORKSPACE, "name": "Northwind Revenue"},
            {"gid": "9", "name": "Personal Projects"},
        ],
    }


@respx.mock
async def test_an_invisible_workspace_is_refused_by_name(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    with pytest.raises(InvalidRequest, match="not visible"):
        await connector(sleep, clock, workspace="Elsewhere").discover()


@respx.mock
async def test_several_workspaces_and_no_projects_need_the_workspace_option(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me((WORKSPACE, "Northwind Revenue"), ("9", "Personal Projects"))
    asana = connector(sleep, clock, workspace=None)
    assert (await asana.discover())["workspace_gid"] is None
    with pytest.raises(InvalidRequest, match="option workspace"):
        await pages_of(asana, Resource.PROJECTS)


@respx.mock
async def test_401_rejects_the_credentials(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.get(f"{API}/users/me").mock(
        return_value=httpx.Response(401, json={"errors": [{"message": "Not Authorized"}]})
    )
    with pytest.raises(CredentialsRejected):
        await connector(sleep, clock).check()


@respx.mock
async def test_429_with_retry_after_is_waited_out(sleep: FakeSleep, clock: FakeClock) -> None:
    rate_limited = {"errors": [{"message": "You've made too many requests and hit a rate limit."}]}
    respx.get(f"{API}/users/me").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json=rate_limited),
            httpx.Response(200, json=me()),
        ]
    )
    await connector(sleep, clock).check()
    assert sleep.calls == [7.0]


@respx.mock
async def test_a_429_that_does_not_end_throttles(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.get(f"{API}/users/me").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "30"}, json={"errors": []})
    )
    with pytest.raises(RateLimited):
        await connector(sleep, clock, max_attempts=2).check()


# -- projects ----------------------------------------------------------------------------------


@respx.mock
async def test_projects_of_the_workspace_are_listed_page_by_page(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    route = respx.get(f"{API}/projects").mock(
        side_effect=[
            httpx.Response(200, json=page(project(CRM, "CRM Migration"), offset="tok1")),
            httpx.Response(200, json=page(project(SKO, "Sales Kickoff 2027", archived=True))),
        ]
    )
    mock_me()
    (result,) = await pages_of(connector(sleep, clock), Resource.PROJECTS)

    assert [(p.gid, p.archived) for p in result.items] == [(CRM, False), (SKO, True)]
    first, second = (call.request.url.params for call in route.calls)
    assert (first["workspace"], first["limit"]) == (WORKSPACE, "100")
    assert first["opt_fields"] == "name,archived,permalink_url,workspace"
    assert "archived" not in first  # archived projects too: archiving is not lost access
    assert "offset" not in first
    assert second["offset"] == "tok1"


@respx.mock
async def test_scoped_projects_are_read_one_by_one_and_invisible_ones_skipped(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{API}/projects/{CRM}").mock(
        return_value=httpx.Response(200, json={"data": project(CRM, "CRM Migration")})
    )
    respx.get(f"{API}/projects/404404").mock(
        return_value=httpx.Response(404, json={"errors": [{"message": "Unknown object"}]})
    )
    respx.get(f"{API}/projects/403403").mock(
        return_value=httpx.Response(403, json={"errors": [{"message": "Forbidden"}]})
    )
    asana = connector(sleep, clock, scope=(CRM, "404404", "403403"))
    (result,) = await pages_of(asana, Resource.PROJECTS)
    assert [p.gid for p in result.items] == [CRM]


# -- work items --------------------------------------------------------------------------------


@respx.mock
async def test_a_full_sync_pages_project_tasks_with_explicit_fields_and_reads_subtasks(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    listing = respx.get(f"{API}/projects/{CRM}/tasks").mock(
        side_effect=[
            httpx.Response(
                200,
                json=page(
                    task("1", subtasks=1, assignee="u1"),
                    task("2", subtype="milestone", modified="2026-11-19T10:00:00.000Z"),
                    offset="next-1",
                ),
            ),
            httpx.Response(200, json=page(task("3", section="In progress", assignee="u1"))),
        ]
    )
    subtasks = respx.get(f"{API}/tasks/1/subtasks").mock(
        return_value=httpx.Response(200, json=page(task("1.1", section=None, parent="1")))
    )
    user = mock_user("u1", "Ines.Carvalho@Northwind.example")

    pages = await pages_of(connector(sleep, clock), Resource.WORK_ITEMS)

    assert gids(pages) == [["1"], ["3"], ["1.1"]]
    first, second = (call.request.url.params for call in listing.calls)
    assert (first["opt_fields"], first["limit"]) == (TASK_FIELDS, "100")
    assert "offset" not in first
    assert "modified_since" not in first
    assert second["offset"] == "next-1"
    assert subtasks.calls.last.request.url.params["opt_fields"] == TASK_FIELDS
    # The milestone is no work item: named for removal, in case it used to be a task.
    assert pages[0].deleted_ids == ("2",)
    # E-mails come from /users/{gid} (the task endpoints do not offer assignee.email), once.
    assert user.call_count == 1
    assert user.calls.last.request.url.params["opt_fields"] == "name,email"
    first_task = pages[0].items[0]
    assert first_task.pmbridge.assignee_email == "Ines.Carvalho@Northwind.example"
    assert pages[0].raw[0]["pmbridge"] == {
        "project_gid": CRM,
        "assignee_email": "Ines.Carvalho@Northwind.example",
    }
    assert AsanaTask.model_validate(pages[0].raw[0]) == first_task
    # The subtask is in no project: it is synced under its parent's.
    assert pages[2].items[0].pmbridge.project_gid == CRM
    # Only the project's last page moves its cursor entry (no Date header: newest modified_at).
    assert pages[0].cursor == pages[1].cursor == {"projects": {}}
    assert pages[2].cursor == {
        "projects": {
            CRM: {"since": "2026-11-19T10:00:00+00:00", "parents": [["1", CRM]]},
        }
    }


@respx.mock
async def test_the_next_since_is_the_servers_date_when_it_sends_one(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    respx.get(f"{API}/projects/{CRM}/tasks").mock(
        return_value=httpx.Response(
            200, json=page(task("1")), headers={"Date": "Fri, 20 Nov 2026 09:00:00 GMT"}
        )
    )
    pages = await pages_of(connector(sleep, clock), Resource.WORK_ITEMS)
    assert pages[-1].cursor == {
        "projects": {CRM: {"since": "2026-11-20T09:00:00+00:00", "parents": []}}
    }


@respx.mock
async def test_incremental_asks_modified_since_minus_the_overlap_and_sweeps_known_parents(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    changed = respx.get(f"{API}/tasks").mock(
        return_value=httpx.Response(
            200, json=page(task("4", subtasks=1, modified="2026-11-20T08:30:00.000Z"))
        )
    )
    swept = [
        respx.get(f"{API}/tasks/{g}/subtasks").mock(
            return_value=httpx.Response(200, json=page(task(f"{g}.1", section=None, parent=g)))
        )
        for g in ("4", "p1", "p2")
    ]
    untouched = respx.get(f"{API}/tasks/p3/subtasks").mock(
        return_value=httpx.Response(200, json=page())
    )
    gone = respx.get(f"{API}/tasks/p0/subtasks").mock(
        return_value=httpx.Response(404, json={"errors": [{"message": "Unknown object"}]})
    )
    cursor = {
        "projects": {
            CRM: {
                "since": "2026-11-20T08:00:00+00:00",
                "parents": [["p0", CRM], ["p1", CRM], ["p2", CRM], ["p3", CRM]],
            }
        }
    }
    asana = connector(sleep, clock, overlap_seconds=120, subtask_sweep_limit=3)

    pages = await pages_of(asana, Resource.WORK_ITEMS, cursor)

    params = changed.calls.last.request.url.params
    assert (params["project"], params["modified_since"]) == (CRM, "2026-11-20T07:58:00Z")
    assert params["opt_fields"] == TASK_FIELDS
    assert gids(pages) == [["4"], ["4.1", "p1.1", "p2.1"]]
    assert all(route.called for route in swept)
    assert gone.called
    assert not untouched.called  # beyond this run's sweep limit: next time
    # p0 is gone; p3 waits at the front; swept parents rotate to the back; 4 is new.
    assert pages[-1].cursor == {
        "projects": {
            CRM: {
                "since": "2026-11-20T08:30:00+00:00",
                "parents": [["p3", CRM], ["p1", CRM], ["p2", CRM], ["4", CRM]],
            }
        }
    }


@respx.mock
async def test_an_unchanged_project_keeps_its_cursor_and_yields_no_page(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    respx.get(f"{API}/tasks").mock(return_value=httpx.Response(200, json=page()))
    cursor = {"projects": {CRM: {"since": "2026-11-20T08:00:00+00:00", "parents": []}}}
    assert await pages_of(connector(sleep, clock), Resource.WORK_ITEMS, cursor) == []


@respx.mock
async def test_a_task_in_two_projects_is_synced_once_under_its_first_in_scope_project(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects(project(SKO, "Sales Kickoff 2027"), project(CRM, "CRM Migration"))
    shared = task("7", project_gid=CRM)
    shared["memberships"].append(
        {"project": {"gid": SKO}, "section": {"gid": "s9", "name": "Done"}}
    )
    respx.get(f"{API}/projects/{SKO}/tasks").mock(
        return_value=httpx.Response(200, json=page(shared))
    )
    respx.get(f"{API}/projects/{CRM}/tasks").mock(
        return_value=httpx.Response(200, json=page(shared))
    )

    pages = await pages_of(connector(sleep, clock), Resource.WORK_ITEMS)

    assert gids(pages) == [["7"], []]
    assert pages[0].items[0].pmbridge.project_gid == CRM
    # Each project's end is committed with its own cursor entry, even without new items.
    assert [set(p.cursor["projects"]) for p in pages if p.cursor is not None] == [
        {SKO},
        {SKO, CRM},
    ]


@respx.mock
async def test_milestones_are_read_from_the_task_list_with_lean_fields(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    route = respx.get(f"{API}/projects/{CRM}/tasks").mock(
        return_value=httpx.Response(200, json=page(task("1"), task("2", subtype="milestone")))
    )
    pages = await pages_of(connector(sleep, clock), Resource.MILESTONES)
    assert gids(pages) == [["2"]]
    assert route.calls.last.request.url.params["opt_fields"] == ",".join(MILESTONE_OPT_FIELDS)
    assert pages[0].items[0].pmbridge.project_gid == CRM
    assert pages[0].cursor == {"projects": {CRM: {"since": "2026-11-18T08:30:00+00:00"}}}


@respx.mock
async def test_a_malformed_task_breaks_the_page_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    broken = task("2")
    broken["modified_at"] = "yesterday afternoon"
    respx.get(f"{API}/projects/{CRM}/tasks").mock(
        return_value=httpx.Response(200, json=page(task("1"), broken))
    )
    with pytest.raises(ContractBroken) as caught:
        await pages_of(connector(sleep, clock), Resource.WORK_ITEMS)
    assert caught.value.details["item_index"] == 1
    assert "modified_at" in caught.value.details["reason"]


@respx.mock
async def test_a_page_without_a_data_list_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    respx.get(f"{API}/projects/{CRM}/tasks").mock(
        return_value=httpx.Response(200, json={"errors": [{"message": "?"}]})
    )
    with pytest.raises(ContractBroken, match="no item list"):
        await pages_of(connector(sleep, clock), Resource.WORK_ITEMS)


async def test_unsupported_resources_are_refused(sleep: FakeSleep, clock: FakeClock) -> None:
    with pytest.raises(InvalidRequest):
        await pages_of(connector(sleep, clock), Resource.PEOPLE)


# -- fetch_one ---------------------------------------------------------------------------------


@respx.mock
async def test_fetch_one_returns_none_for_a_deleted_task_and_for_a_milestone(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    respx.get(f"{API}/tasks/9").mock(
        return_value=httpx.Response(404, json={"errors": [{"message": "Unknown object"}]})
    )
    respx.get(f"{API}/tasks/2").mock(
        return_value=httpx.Response(200, json={"data": task("2", subtype="milestone")})
    )
    asana = connector(sleep, clock)
    assert await asana.fetch_one(Resource.WORK_ITEMS, "9") is None
    assert await asana.fetch_one(Resource.WORK_ITEMS, "2") is None
    found = await asana.fetch_one(Resource.MILESTONES, "2")
    assert found is not None
    assert found.pmbridge.project_gid == CRM


@respx.mock
async def test_fetch_one_finds_a_subtasks_project_through_its_parent(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    respx.get(f"{API}/tasks/1.1").mock(
        return_value=httpx.Response(
            200, json={"data": task("1.1", section=None, parent="1", assignee="u1")}
        )
    )
    parent = respx.get(f"{API}/tasks/1").mock(
        return_value=httpx.Response(200, json={"data": task("1")})
    )
    mock_user("u1", "ines@northwind.example")

    found = await connector(sleep, clock).fetch_one(Resource.WORK_ITEMS, "1.1")

    assert found is not None
    assert (found.pmbridge.project_gid, found.pmbridge.assignee_email) == (
        CRM,
        "ines@northwind.example",
    )
    assert parent.calls.last.request.url.params["opt_fields"] == (
        "name,modified_at,memberships.project,parent"
    )


@respx.mock
async def test_fetch_one_ignores_a_task_outside_the_scope(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    respx.get(f"{API}/tasks/5").mock(
        return_value=httpx.Response(200, json={"data": task("5", project_gid="elsewhere")})
    )
    assert await connector(sleep, clock).fetch_one(Resource.WORK_ITEMS, "5") is None


# -- census ------------------------------------------------------------------------------------


@respx.mock
async def test_census_lists_task_and_subtask_gids_and_reports_what_it_cannot_see(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.get(f"{API}/projects/{CRM}").mock(
        return_value=httpx.Response(200, json={"data": project(CRM, "CRM Migration")})
    )
    respx.get(f"{API}/projects/{SKO}").mock(
        return_value=httpx.Response(200, json={"data": project(SKO, "Sales Kickoff 2027")})
    )
    respx.get(f"{API}/projects/gone").mock(
        return_value=httpx.Response(404, json={"errors": [{"message": "Unknown object"}]})
    )
    listing = respx.get(f"{API}/projects/{CRM}/tasks").mock(
        return_value=httpx.Response(
            200,
            json=page(
                {"gid": "1", "resource_subtype": "default_task", "num_subtasks": 1},
                {"gid": "2", "resource_subtype": "milestone", "num_subtasks": 0},
            ),
        )
    )
    respx.get(f"{API}/tasks/1/subtasks").mock(
        return_value=httpx.Response(200, json=page({"gid": "1.1", "num_subtasks": 0}))
    )
    respx.get(f"{API}/projects/{SKO}/tasks").mock(
        return_value=httpx.Response(403, json={"errors": [{"message": "Forbidden"}]})
    )
    asana = connector(sleep, clock, scope=(CRM, "gone", SKO))

    pages = [p async for p in asana.census(Resource.WORK_ITEMS)]

    assert [(p.project_vendor_id, p.ids, p.access_lost, p.scope_key) for p in pages] == [
        (None, [], True, "gone"),
        (CRM, ["1", "1.1"], False, None),
        (None, [], True, SKO),
    ]
    assert listing.calls.last.request.url.params["opt_fields"] == ",".join(CENSUS_OPT_FIELDS)


@respx.mock
async def test_census_of_an_empty_project_still_says_it_was_read(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    mock_me()
    mock_projects()
    respx.get(f"{API}/projects/{CRM}/tasks").mock(return_value=httpx.Response(200, json=page()))
    pages = [p async for p in connector(sleep, clock).census(Resource.WORK_ITEMS)]
    assert [(p.project_vendor_id, p.ids) for p in pages] == [(CRM, [])]


# -- webhooks ----------------------------------------------------------------------------------
SECRET = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"


def signed(body: bytes, secret: str = SECRET) -> WebhookRequest:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest(body=body, headers={"X-Hook-Signature": signature})


def test_the_handshake_secret_is_read_from_the_header(sleep: FakeSleep, clock: FakeClock) -> None:
    asana = connector(sleep, clock)
    handshake = WebhookRequest(body=b"", headers={"x-hook-secret": SECRET})
    assert asana.handshake_secret(handshake) == SECRET
    assert asana.handshake_secret(signed(b'{"events":[]}')) is None


def test_a_signed_delivery_verifies(sleep: FakeSleep, clock: FakeClock, payloads: Path) -> None:
    body = (payloads / "asana" / "webhook-events.json").read_bytes()
    connector(sleep, clock).verify_webhook(signed(body), SECRET)


@pytest.mark.parametrize(
    "forge",
    ["tampered body", "wrong secret", "no header", "truncated", "base64 instead of hex"],
)
def test_forged_deliveries_are_rejected(sleep: FakeSleep, clock: FakeClock, forge: str) -> None:
    body = b'{"events":[]}'
    request = signed(body)
    signature = request.headers["X-Hook-Signature"]
    forged = {
        "tampered body": WebhookRequest(body=body + b" ", headers=request.headers),
        "wrong secret": signed(body, "another secret"),
        "no header": WebhookRequest(body=body, headers={}),
        "truncated": WebhookRequest(body=body, headers={"X-Hook-Signature": signature[:-2]}),
        "base64 instead of hex": WebhookRequest(
            body=body, headers={"X-Hook-Signature": "sD3yFh/Wq9mBY+Yx4mkm8Q=="}
        ),
    }[forge]
    with pytest.raises(WebhookRejected):
        connector(sleep, clock).verify_webhook(forged, SECRET)


def test_events_become_change_notices(sleep: FakeSleep, clock: FakeClock, payloads: Path) -> None:
    body = (payloads / "asana" / "webhook-events.json").read_bytes()
    notices = connector(sleep, clock).parse_webhook(WebhookRequest(body=body, headers={}))
    assert [(n.resource, n.vendor_id, n.deleted) for n in notices] == [
        # Changed, then moved to a section: one refresh.
        (Resource.WORK_ITEMS, "1208400000001075", False),
        # A story added to a task: the task's modified_at moved.
        (Resource.WORK_ITEMS, "1208400000001025", False),
        (Resource.WORK_ITEMS, "1208400000001051", True),
        (Resource.PROJECTS, "1208400000000497", False),
    ]


def test_the_specs_event_example_names_its_task(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    event = json.loads(
        (payloads / "asana" / "event-example.EventResponse.from-oas.json").read_text()
    )
    body = json.dumps({"events": [event]}).encode()
    notices = connector(sleep, clock).parse_webhook(WebhookRequest(body=body, headers={}))
    assert [(n.resource, n.vendor_id, n.deleted) for n in notices] == [
        (Resource.WORK_ITEMS, "12345", False)
    ]


def test_a_heartbeat_is_accepted_and_names_nothing(sleep: FakeSleep, clock: FakeClock) -> None:
    asana = connector(sleep, clock)
    heartbeat = signed(b'{"events":[]}')
    asana.verify_webhook(heartbeat, SECRET)
    assert asana.parse_webhook(heartbeat) == []


@pytest.mark.parametrize("body", [b"[]", b'{"data": []}', b"not json", b'{"events": [{}]}'])
def test_a_body_that_is_not_an_events_delivery_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock, body: bytes
) -> None:
    with pytest.raises(ContractBroken):
        connector(sleep, clock).parse_webhook(WebhookRequest(body=body, headers={}))


def test_delivery_ids_digest_the_events(sleep: FakeSleep, clock: FakeClock, payloads: Path) -> None:
    asana = connector(sleep, clock)
    body = (payloads / "asana" / "webhook-events.json").read_bytes()
    reformatted = json.dumps(json.loads(body), indent=4).encode()
    other = copy.deepcopy(json.loads(body))
    other["events"][0]["action"] = "removed"

    first = asana.delivery_id(WebhookRequest(body=body, headers={}))
    assert len(first) == 64
    assert asana.delivery_id(WebhookRequest(body=reformatted, headers={})) == first
    assert asana.delivery_id(WebhookRequest(body=json.dumps(other).encode(), headers={})) != first


# -- registering a webhook ----------------------------------------------------------------------
@respx.mock
async def test_a_webhook_is_registered_for_a_project_and_its_tasks(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    answer = json.loads(
        (
            Path(__file__).parents[3] / "payloads/asana/webhook-create-response-example.json"
        ).read_text()
    )
    route = respx.post(f"{API}/webhooks").respond(201, json=answer)
    asana = connector(sleep, clock)
    assert isinstance(asana, RegistersWebhooks)

    registered = await asana.register_webhook(
        "8675309", "https://pmbridge.example.com/webhooks/7", description="pmbridge connection 7"
    )

    assert json.loads(route.calls.last.request.content) == {
        "data": {
            "resource": "8675309",
            "target": "https://pmbridge.example.com/webhooks/7",
            "filters": [{"resource_type": "task"}, {"resource_type": "project"}],
        }
    }
    assert registered == RegisteredWebhook("43214", answer["X-Hook-Secret"])


@respx.mock
async def test_a_refused_registration_is_not_retried(sleep: FakeSleep, clock: FakeClock) -> None:
    route = respx.post(f"{API}/webhooks").respond(503)
    with pytest.raises(VendorUnavailable):
        await connector(sleep, clock).register_webhook(
            "8675309", "https://x.example/1", description=""
        )
    assert route.call_count == 1  # Asana may have created it: a second POST makes a second
