"""The Worktile connector against respx routes: the exact requests it makes, how its tenant
token is obtained, placed and refreshed, and what it yields (facts: WORKTILE.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from sandbox.worktile import nginx_page
from sync.connectors.base import ConnectionConfig, WebhookRequest
from sync.connectors.worktile.auth import TenantTokenAuth, TokenSettings
from sync.connectors.worktile.connector import WorktileConnector
from sync.connectors.worktile.payloads import WorktileTask
from sync.errors import (
    ContractBroken,
    CredentialsRejected,
    InvalidRequest,
    WebhookRejected,
)
from sync.http.client import VendorClient, VendorRejected
from sync.http.rate_limit import RateLimit
from sync.http.retry import RetryPolicy
from sync.model import Resource
from tests.fakes import FakeClock, FakeSleep

BASE = "https://dev.worktile.com"
API = f"{BASE}/open-api"
TOKEN_URL = f"{API}/tenant-access-token"
PROJECTS = f"{API}/mission/get-projects-by-page"
TASKS = f"{API}/mission/get-project-tasks-by-page"
BY_IDS = f"{API}/mission/get-tasks-by-ids"
MEMBERS = f"{API}/contact/get-members-by-page"
CREDENTIALS = {"client_id": "app-7", "client_secret": "s3cr3t-app-secret"}
EXPIRED = {"ok": False, "error_code": 1103, "error": "invalid access token"}
MALFORMED = {"ok": False, "error_code": 1102, "error": "access_token is malformed"}


def task(
    number: int,
    *,
    updated: int = 1_794_990_600,
    project: str = "p1",
    task_type: str = "任务",
    state: tuple[str, int] = ("进行中", 2),
) -> dict[str, Any]:
    return {
        "_id": f"t{number}",
        "identifier": f"ENB-{number}",
        "title": f"Task {number}",
        "project_id": project,
        "created_at": updated - 86_400,
        "updated_at": updated,
        "completed_at": 0,
        "is_archived": 0,
        "state_type": state[1],
        "task_state": {"_id": "s", "name": state[0], "type": state[1]},
        "task_type": {"_id": "ty", "name": task_type},
        "properties": {"assignee": "u1"},
    }


def page(
    items: list[dict[str, Any]], *, more: bool | None = False, key: str = "items"
) -> dict[str, Any]:
    body: dict[str, Any] = {key: items, "total": len(items)}
    if more is not None:
        body["has_more"] = more
    return body


def projects_page(*ids: str) -> dict[str, Any]:
    items = [{"_id": pid, "name": f"Project {pid}", "identifier": pid.upper()} for pid in ids]
    return page(items)


def token_answer(value: str = "tok-1", expires_in: int = 7200) -> httpx.Response:
    return httpx.Response(200, json={"tenant_access_token": value, "expires_in": expires_in})


def connector(
    sleep: FakeSleep,
    clock: FakeClock,
    *,
    scope: tuple[str, ...] = (),
    base_url: str = BASE,
    auth: httpx.Auth | None = None,
    **options: Any,
) -> WorktileConnector:
    config = ConnectionConfig(
        base_url=base_url, credentials=CREDENTIALS, scope=scope, options=options
    )
    client = VendorClient(
        tool="worktile",
        base_url=base_url,
        rate_limit=RateLimit(10_000, 1.0),
        auth=auth or WorktileConnector.auth(config),
        retry=RetryPolicy(sleep=sleep),
        retry_after_headers=WorktileConnector.retry_after_headers,
        clock=clock,
    )
    return WorktileConnector(client, config)


def clocked_auth(clock: FakeClock) -> TenantTokenAuth:
    config = ConnectionConfig(base_url=BASE, credentials=CREDENTIALS)
    return TenantTokenAuth(
        client_id=CREDENTIALS["client_id"],
        client_secret=CREDENTIALS["client_secret"],
        settings=WorktileConnector.token_settings(config),
        clock=clock.monotonic,
    )


async def collect(c: WorktileConnector, resource: Resource, cursor: Any = None) -> list[Any]:
    return [p async for p in c.fetch(resource, cursor)]


# -- auth: the tenant token ------------------------------------------------------------------


@respx.mock
async def test_the_token_is_fetched_once_and_sent_as_query_parameter_and_bearer(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    token = respx.post(TOKEN_URL).mock(return_value=token_answer("tok-1"))
    projects = respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=page([])))

    wt = connector(sleep, clock)
    await wt.check()
    await wt.check()

    assert token.call_count == 1
    assert json.loads(token.calls.last.request.content) == CREDENTIALS
    for call in projects.calls:
        assert call.request.url.params["access_token"] == "tok-1"
        assert call.request.headers["Authorization"] == "Bearer tok-1"
    assert dict(projects.calls.last.request.url.params) == {
        "page_index": "0",
        "page_size": "1",
        "access_token": "tok-1",
    }


@respx.mock
async def test_the_token_is_renewed_shortly_before_it_expires_on_the_injected_clock(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    token = respx.post(TOKEN_URL).mock(
        side_effect=[token_answer("tok-1", 7200), token_answer("tok-2", 7200)]
    )
    projects = respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=page([])))
    wt = connector(sleep, clock, auth=clocked_auth(clock))

    await wt.check()
    clock.advance(7200 - 301)  # still valid: renewed 300 s before expiry
    await wt.check()
    clock.advance(2)
    await wt.check()

    assert token.call_count == 2
    assert [c.request.url.params["access_token"] for c in projects.calls] == [
        "tok-1",
        "tok-1",
        "tok-2",
    ]


@pytest.mark.parametrize(
    "refusal",
    [
        httpx.Response(200, json=EXPIRED),
        httpx.Response(200, json=MALFORMED),
        httpx.Response(401, json=EXPIRED),
    ],
    ids=["200 ok:false 1103", "200 ok:false 1102", "401"],
)
@respx.mock
async def test_a_refused_token_is_refreshed_once_and_the_request_sent_again(
    sleep: FakeSleep, clock: FakeClock, refusal: httpx.Response
) -> None:
    token = respx.post(TOKEN_URL).mock(side_effect=[token_answer("old"), token_answer("new")])
    projects = respx.get(PROJECTS).mock(
        side_effect=[refusal, httpx.Response(200, json=projects_page("p1"))]
    )

    pages = await collect(connector(sleep, clock), Resource.PROJECTS)

    assert [p.id for p in pages[0].items] == ["p1"]
    assert token.call_count == 2
    assert [c.request.url.params["access_token"] for c in projects.calls] == ["old", "new"]
    assert projects.calls.last.request.headers["Authorization"] == "Bearer new"
    assert sleep.calls == []  # a refresh is not a retry: nobody waits


@respx.mock
async def test_a_token_refused_again_after_the_refresh_rejects_the_credentials(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    token = respx.post(TOKEN_URL).mock(side_effect=[token_answer("a"), token_answer("b")])
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=EXPIRED))

    with pytest.raises(CredentialsRejected, match="fresh access token"):
        await connector(sleep, clock).check()
    assert token.call_count == 2


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"ok": False, "error": "invalid client_id or client_secret"}),
        httpx.Response(401, json={"ok": False, "error": "unauthorized"}),
        httpx.Response(400, text="bad request"),
        httpx.Response(403, text="forbidden"),
    ],
    ids=["200 ok:false", "401", "400", "403"],
)
@respx.mock
async def test_a_rejected_client_secret_is_credentials_rejected_and_never_echoed(
    sleep: FakeSleep, clock: FakeClock, answer: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    respx.post(TOKEN_URL).mock(return_value=answer)
    projects = respx.get(PROJECTS)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(CredentialsRejected) as caught:
        await connector(sleep, clock).check()

    assert not projects.called
    assert caught.value.endpoint == "POST /open-api/tenant-access-token"
    text = json.dumps(caught.value.to_dict()) + caplog.text
    assert CREDENTIALS["client_secret"] not in text
    assert CREDENTIALS["client_secret"] not in repr(WorktileConnector.auth(config_for()))


def config_for(**options: Any) -> ConnectionConfig:
    return ConnectionConfig(base_url=BASE, credentials=CREDENTIALS, options=options)


@respx.mock
async def test_a_throttled_token_endpoint_is_retried_like_any_request(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    token = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(429, text=nginx_page(429), headers={"Content-Type": "text/html"}),
            token_answer(),
        ]
    )
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=page([])))

    await connector(sleep, clock).check()

    assert token.call_count == 2
    assert len(sleep.calls) == 1


@respx.mock
async def test_a_token_answer_without_a_token_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"expires_in": 7200}))
    with pytest.raises(ContractBroken):
        await connector(sleep, clock).check()


@respx.mock
async def test_c2s_access_token_field_name_is_accepted(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"access_token": "alt"}))
    projects = respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=page([])))
    await connector(sleep, clock).check()
    assert projects.calls.last.request.url.params["access_token"] == "alt"


def test_the_auth_refuses_a_synchronous_client() -> None:
    with (
        httpx.Client(auth=clocked_auth(FakeClock())) as client,
        pytest.raises(RuntimeError, match="AsyncClient"),
    ):
        client.get(PROJECTS)


@respx.mock
async def test_a_private_deployment_sets_its_own_host_prefix_and_token_path(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    base = "https://wt.sales.example.cn"
    token = respx.post(f"{base}/wt/open-api/auth/tenant-token").mock(return_value=token_answer())
    projects = respx.get(f"{base}/wt/open-api/mission/get-projects-by-page").mock(
        return_value=httpx.Response(200, json=page([]))
    )
    wt = connector(
        sleep,
        clock,
        base_url=base,
        api_prefix="/wt/open-api",
        token_path="/auth/tenant-token",
    )
    await wt.check()
    assert token.called
    assert projects.called


def test_check_credentials_names_what_is_missing() -> None:
    with pytest.raises(InvalidRequest, match="missing: client_secret"):
        WorktileConnector.check_credentials({"client_id": "x"})
    WorktileConnector.check_credentials(CREDENTIALS)


def test_the_declared_facts() -> None:
    assert WorktileConnector.default_base_url == "https://dev.worktile.com"
    assert WorktileConnector.rate_limit.max_in_flight == 3
    assert "UNVERIFIED" in WorktileConnector.rate_limit.source
    assert WorktileConnector.token_error_codes == frozenset({1102, 1103})
    settings = WorktileConnector.token_settings(config_for())
    assert settings == TokenSettings(token_url=TOKEN_URL)


# -- errors ----------------------------------------------------------------------------------


@respx.mock
async def test_an_html_429_is_retried_and_never_parsed(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    html = {"Content-Type": "text/html"}
    respx.get(PROJECTS).mock(
        side_effect=[
            httpx.Response(429, text=nginx_page(429), headers=html),
            httpx.Response(502, text=nginx_page(502), headers=html),
            httpx.Response(429, text=nginx_page(429), headers={**html, "Retry-After": "4"}),
            httpx.Response(200, json=page([])),
        ]
    )
    await connector(sleep, clock).check()
    assert len(sleep.calls) == 3
    assert sleep.calls[2] == 4.0  # Retry-After honoured when present


@respx.mock
async def test_another_ok_false_answer_is_a_refused_request(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(
        return_value=httpx.Response(200, json={"ok": False, "error_code": 2001, "error": "无权限"})
    )
    with pytest.raises(VendorRejected, match="无权限") as caught:
        await connector(sleep, clock).check()
    assert caught.value.details["error_code"] == 2001


# -- paging ----------------------------------------------------------------------------------


@respx.mock
async def test_tasks_page_per_project_to_exhaustion_with_exact_parameters(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1", "p2")))
    p1 = respx.get(TASKS, params={"project_id": "p1"}).mock(
        side_effect=[
            httpx.Response(200, json=page([task(1), task(2)], more=True)),
            httpx.Response(200, json=page([task(3)], more=False)),
        ]
    )
    # No has_more at all, items under "value": the loop ends on the empty page (§8).
    p2 = respx.get(TASKS, params={"project_id": "p2"}).mock(
        side_effect=[
            httpx.Response(200, json=page([task(4, project="p2")], more=None, key="value")),
            httpx.Response(200, json=page([], more=None, key="value")),
        ]
    )

    pages = await collect(connector(sleep, clock, page_size=2), Resource.WORK_ITEMS)

    assert [[t.id for t in p.items] for p in pages] == [["t1", "t2"], ["t3"], ["t4"]]
    assert [p.project_vendor_id for p in pages] == ["p1", "p1", "p2"]
    assert pages[0].raw[0]["_id"] == "t1"
    params = [dict(c.request.url.params) for c in p1.calls]
    assert [(p["project_id"], p["page_index"], p["page_size"]) for p in params] == [
        ("p1", "0", "2"),
        ("p1", "1", "2"),
    ]
    assert p2.call_count == 2


@respx.mock
async def test_a_page_that_repeats_the_one_before_is_refused(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1")))
    same = page([task(1), task(2)], more=True)
    respx.get(TASKS).mock(return_value=httpx.Response(200, json=same))

    with pytest.raises(ContractBroken, match="same page twice"):
        await collect(connector(sleep, clock, page_size=2), Resource.WORK_ITEMS)


@respx.mock
async def test_a_malformed_task_breaks_the_page_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1")))
    broken = task(2)
    broken["updated_at"] = "昨天"
    respx.get(TASKS).mock(return_value=httpx.Response(200, json=page([task(1), broken])))

    with pytest.raises(ContractBroken) as caught:
        await collect(connector(sleep, clock), Resource.WORK_ITEMS)
    assert caught.value.details["item_index"] == 1
    assert "updated_at" in caught.value.details["reason"]


@respx.mock
async def test_c2s_mock_page_lacks_updated_at_which_the_connector_needs(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1")))
    mock = json.loads((payloads / "worktile" / "page.c2-mock.json").read_text())
    respx.get(TASKS).mock(return_value=httpx.Response(200, json=mock))
    with pytest.raises(ContractBroken, match="updated_at"):
        await collect(connector(sleep, clock), Resource.WORK_ITEMS)


@respx.mock
async def test_a_page_without_an_item_list_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json={"total": 0}))
    with pytest.raises(ContractBroken, match="no item list"):
        await collect(connector(sleep, clock), Resource.PROJECTS)


# -- projects, milestones, incremental ---------------------------------------------------------


@respx.mock
async def test_scope_keeps_projects_by_id_or_identifier(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1", "p2", "p3")))
    pages = await collect(connector(sleep, clock, scope=("p1", "p3")), Resource.PROJECTS)
    assert [p.id for p in pages[0].items] == ["p1", "p3"]
    pages = await collect(connector(sleep, clock, scope=("P2",)), Resource.PROJECTS)
    assert [p.id for p in pages[0].items] == ["p2"]


@respx.mock
async def test_tasks_of_a_milestone_type_are_milestones_and_only_milestones(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1")))
    tasks = [task(1), task(2, task_type="里程碑"), task(3, task_type="milestone"), task(4)]
    respx.get(TASKS).mock(return_value=httpx.Response(200, json=page(tasks)))

    wt = connector(sleep, clock)
    milestones = await collect(wt, Resource.MILESTONES)
    items = await collect(wt, Resource.WORK_ITEMS)
    assert [t.id for p in milestones for t in p.items] == ["t2", "t3"]
    assert [t.id for p in items for t in p.items] == ["t1", "t4"]

    custom = await collect(
        connector(sleep, clock, milestone_task_types=["Milestone", "发布"]), Resource.MILESTONES
    )
    assert [t.id for p in custom for t in p.items] == ["t3"]


@respx.mock
async def test_the_work_item_pass_reuses_the_pages_the_milestone_pass_read(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1", "p2")))
    p1 = [task(1), task(2, task_type="里程碑"), task(3)]
    route = respx.get(TASKS, params={"project_id": "p1"}).mock(
        return_value=httpx.Response(200, json=page(p1))
    )
    respx.get(TASKS, params={"project_id": "p2"}).mock(
        return_value=httpx.Response(200, json=page([task(4, project="p2")]))
    )
    wt = connector(sleep, clock)
    await collect(wt, Resource.PROJECTS)
    milestones = await collect(wt, Resource.MILESTONES)
    listed = route.call_count

    items = await collect(wt, Resource.WORK_ITEMS)
    again = await collect(wt, Resource.WORK_ITEMS)

    assert [t.id for p in milestones for t in p.items] == ["t2"]
    assert route.call_count == listed + 1  # only the second work-item pass lists again
    assert [[t.id for t in p.items] for p in items] == [["t1", "t3"], ["t4"]]
    assert [p.raw for p in items] == [[p1[0], p1[2]], [task(4, project="p2")]]
    assert [p.cursor for p in items] == [p.cursor for p in again]


@pytest.mark.parametrize("budget", [0, 100], ids=["disabled", "over budget"])
@respx.mock
async def test_without_room_to_keep_pages_the_work_item_pass_lists_again(
    sleep: FakeSleep, clock: FakeClock, budget: int
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1")))
    route = respx.get(TASKS).mock(
        return_value=httpx.Response(200, json=page([task(1), task(2), task(3)]))
    )
    wt = connector(sleep, clock, scan_reuse_bytes=budget)
    await collect(wt, Resource.MILESTONES)
    items = await collect(wt, Resource.WORK_ITEMS)
    assert route.call_count == 2
    assert [t.id for p in items for t in p.items] == ["t1", "t2", "t3"]


@respx.mock
async def test_no_milestone_types_means_no_milestone_pass(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1")))
    route = respx.get(TASKS).mock(
        return_value=httpx.Response(200, json=page([task(1), task(2, task_type="里程碑")]))
    )
    wt = connector(sleep, clock, milestone_task_types=[])
    assert await collect(wt, Resource.MILESTONES) == []
    assert not route.called
    assert [t.id for p in await collect(wt, Resource.WORK_ITEMS) for t in p.items] == ["t1", "t2"]


@respx.mock
async def test_incremental_yields_only_tasks_past_each_projects_watermark(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1", "p2")))
    mark = 1_795_000_000
    respx.get(TASKS, params={"project_id": "p1"}).mock(
        return_value=httpx.Response(
            200,
            json=page(
                [
                    task(1, updated=mark - 301),  # before the overlap window
                    task(2, updated=mark - 300),  # inside it
                    task(3, updated=mark + 50),
                ]
            ),
        )
    )
    respx.get(TASKS, params={"project_id": "p2"}).mock(
        return_value=httpx.Response(
            200, json=page([task(4, project="p2", updated=100), task(5, project="p2")])
        )
    )
    cursor = {"updated_at": {"p1": mark}}

    pages = await collect(connector(sleep, clock), Resource.WORK_ITEMS, cursor)

    # p2 has no watermark yet (a new project): everything in it.
    assert [[t.id for t in p.items] for p in pages] == [["t2", "t3"], ["t4", "t5"]]
    assert pages[-1].cursor == {"updated_at": {"p1": mark + 50, "p2": 1_794_990_600}}


@respx.mock
async def test_each_pages_cursor_only_counts_projects_read_to_their_end(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1", "p2")))
    respx.get(TASKS, params={"project_id": "p1"}).mock(
        side_effect=[
            httpx.Response(200, json=page([task(1, updated=500)], more=True)),
            httpx.Response(200, json=page([task(2, updated=300)], more=False)),
        ]
    )
    respx.get(TASKS, params={"project_id": "p2"}).mock(
        return_value=httpx.Response(200, json=page([task(3, project="p2", updated=900)]))
    )

    pages = await collect(connector(sleep, clock, page_size=1), Resource.WORK_ITEMS)

    # Resuming from page one's cursor must re-read all of p1: it was not read to its end.
    assert [p.cursor for p in pages] == [
        {"updated_at": {}},
        {"updated_at": {"p1": 500}},
        {"updated_at": {"p1": 500, "p2": 900}},
    ]


@respx.mock
async def test_an_unchanged_tenant_moves_no_cursor_and_yields_nothing(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1")))
    respx.get(TASKS).mock(return_value=httpx.Response(200, json=page([task(1, updated=100)])))
    pages = await collect(
        connector(sleep, clock, overlap_seconds=0), Resource.WORK_ITEMS, {"updated_at": {"p1": 200}}
    )
    assert pages == []


# -- census and fetch_one ---------------------------------------------------------------------


@respx.mock
async def test_census_lists_work_item_ids_and_reports_projects_it_cannot_see(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json=projects_page("p1")))
    respx.get(TASKS).mock(
        side_effect=[
            httpx.Response(200, json=page([task(1), task(2, task_type="里程碑")], more=True)),
            httpx.Response(200, json=page([task(3)], more=False)),
        ]
    )
    wt = connector(sleep, clock, scope=("P1", "gone"))
    pages = [p async for p in wt.census(Resource.WORK_ITEMS)]
    assert [(p.project_vendor_id, p.ids, p.access_lost, p.scope_key) for p in pages] == [
        (None, [], True, "gone"),
        ("p1", ["t1", "t3"], False, None),
    ]


@respx.mock
async def test_fetch_one_reads_get_tasks_by_ids_bare_array(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx.get(BY_IDS).mock(
        side_effect=[
            httpx.Response(200, json=[task(7)]),
            httpx.Response(200, json=[]),
            httpx.Response(200, json=[task(8, task_type="里程碑")]),
            httpx.Response(200, json=[task(8, task_type="里程碑")]),
        ]
    )
    wt = connector(sleep, clock)

    found = await wt.fetch_one(Resource.WORK_ITEMS, "t7")
    assert isinstance(found, WorktileTask)
    assert found.id == "t7"
    assert await wt.fetch_one(Resource.WORK_ITEMS, "t9") is None  # deleted
    assert await wt.fetch_one(Resource.WORK_ITEMS, "t8") is None  # a milestone, not an item
    assert await wt.fetch_one(Resource.MILESTONES, "t8") is not None
    params = route.calls[0].request.url.params
    assert params["task_ids"] == "t7"
    assert params["fields"] == "assignee,participant,start,due,tag,priority"


@respx.mock
async def test_discover_maps_member_uids_to_display_names(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_answer())
    members = json.loads((payloads / "worktile" / "members.page.json").read_text())
    route = respx.get(MEMBERS).mock(return_value=httpx.Response(200, json=members))

    facts = await connector(sleep, clock, site_url="https://sales.worktile.com").discover()

    assert facts == {
        "site_url": "https://sales.worktile.com",
        "time_zone": "Asia/Shanghai",
        "milestone_task_types": ["里程碑", "Milestone"],
        "members": {
            "4ef8aa38922766581e27a1c08a6a63ec": "张伟",
            "11e20b8f6b0d549b6f03675a1600a35a": "Emily Zhou",
        },
    }
    assert route.calls.last.request.url.params["page_size"] == "100"


async def test_unsupported_resources_are_refused(sleep: FakeSleep, clock: FakeClock) -> None:
    with pytest.raises(InvalidRequest):
        await collect(connector(sleep, clock), Resource.PEOPLE)


# -- webhooks ---------------------------------------------------------------------------------
RECEIVER = "https://pmbridge.example.com/webhooks/worktile/3"


def test_the_shared_secret_verifies_from_the_header_or_the_receiver_url(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    wt = connector(sleep, clock)
    body = b'{"event":"x","payload":{"id":"t1"}}'
    wt.verify_webhook(WebhookRequest(body, {"x-pmbridge-token": "k3y"}, RECEIVER), "k3y")
    wt.verify_webhook(WebhookRequest(body, {}, f"{RECEIVER}?token=k3y"), "k3y")


@pytest.mark.parametrize(
    ("headers", "url", "secret"),
    [
        ({}, RECEIVER, "k3y"),
        ({"X-Pmbridge-Token": "k3y-other"}, RECEIVER, "k3y"),
        ({}, f"{RECEIVER}?token=nope", "k3y"),
        ({"X-Pmbridge-Token": ""}, RECEIVER, "k3y"),
        ({"X-Pmbridge-Token": "k3y"}, RECEIVER, ""),
        ({"X-Pmbridge-Signature": "sha256=00"}, RECEIVER, "k3y"),
    ],
    ids=[
        "nothing",
        "wrong header",
        "wrong url token",
        "empty header",
        "no secret configured",
        "a signature is no token",
    ],
)
def test_deliveries_without_the_secret_are_rejected(
    sleep: FakeSleep, clock: FakeClock, headers: dict[str, str], url: str, secret: str
) -> None:
    with pytest.raises(WebhookRejected):
        connector(sleep, clock).verify_webhook(WebhookRequest(b"{}", headers, url), secret)


def test_a_token_authenticates_the_sender_not_the_body(sleep: FakeSleep, clock: FakeClock) -> None:
    # Worktile signs nothing (§12): whoever holds the secret may send any body, which is
    # why a delivery is only ever a hint to re-fetch.
    wt = connector(sleep, clock)
    headers = {"X-Pmbridge-Token": "k3y"}
    wt.verify_webhook(WebhookRequest(b'{"event":"a","payload":{}}', headers), "k3y")
    wt.verify_webhook(WebhookRequest(b'{"event":"b","payload":{}} ', headers), "k3y")


def signed(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Pmbridge-Signature": f"sha256={digest}"}


def test_a_signing_relay_is_checked_over_the_raw_body(sleep: FakeSleep, clock: FakeClock) -> None:
    wt = connector(sleep, clock, webhook_auth="hmac-sha256")
    body = b'{"event":"e","payload":{"id":"t1"}}'
    wt.verify_webhook(WebhookRequest(body, signed(body, "k3y")), "k3y")
    forgeries = [
        WebhookRequest(body + b" ", signed(body, "k3y")),
        WebhookRequest(body, signed(body, "other")),
        WebhookRequest(body, {"X-Pmbridge-Token": "k3y"}),
        WebhookRequest(body, {"X-Pmbridge-Signature": "md5=" + "0" * 32}),
    ]
    for forged in forgeries:
        with pytest.raises(WebhookRejected):
            wt.verify_webhook(forged, "k3y")


def test_an_unknown_webhook_auth_mode_is_a_configuration_error(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    with pytest.raises(InvalidRequest, match="webhook_auth"):
        connector(sleep, clock, webhook_auth="jwt").verify_webhook(WebhookRequest(b"{}", {}), "k3y")


def test_the_notes_example_delivery_names_the_task(
    sleep: FakeSleep, clock: FakeClock, payloads: Path
) -> None:
    body = (payloads / "worktile" / "webhook.state-changed.reconstructed.json").read_bytes()
    notices = connector(sleep, clock).parse_webhook(WebhookRequest(body, {}))
    assert [(n.resource, n.vendor_id, n.deleted) for n in notices] == [
        (Resource.WORK_ITEMS, "62…", False)
    ]


def test_a_created_task_or_a_milestone_is_a_hint_for_its_resource(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    wt = connector(sleep, clock)
    created = {"event": "e", "payload": {"id": "t5", "type": {"id": "x", "name": "任务"}}}
    milestone = {"event": "e", "payload": {"task": {"id": "t6", "type": {"name": "里程碑"}}}}
    other = {"event": "e", "payload": {"update_by": {"uid": "u"}}}
    parse = wt.parse_webhook
    assert parse(WebhookRequest(json.dumps(created).encode(), {}))[0].vendor_id == "t5"
    assert parse(WebhookRequest(json.dumps(milestone).encode(), {}))[0].resource is (
        Resource.MILESTONES
    )
    assert parse(WebhookRequest(json.dumps(other).encode(), {})) == []


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"payload": {}}', b'{"event": "e"}'])
def test_a_body_that_is_not_a_delivery_breaks_the_contract(
    sleep: FakeSleep, clock: FakeClock, body: bytes
) -> None:
    with pytest.raises(ContractBroken):
        connector(sleep, clock).parse_webhook(WebhookRequest(body, {}))


def test_a_deliverys_id_is_the_digest_of_its_body(sleep: FakeSleep, clock: FakeClock) -> None:
    wt = connector(sleep, clock)
    body = b'{"event":"e","payload":{"id":"t1"}}'
    first = wt.delivery_id(WebhookRequest(body, {"X-Pmbridge-Token": "a"}))
    again = wt.delivery_id(WebhookRequest(body, {}, RECEIVER))
    assert first == again == hashlib.sha256(body).hexdigest()
    assert wt.delivery_id(WebhookRequest(body + b" ", {})) != first
