"""/v1/items, /v1/projects, /v1/milestones: filters, cursor pages, CSV, and precise errors."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.services import Services
from sandbox.jira import JiraSimulator
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import SyncKind
from sync.store import tables as t
from tests.builders import make_jira_connection
from tests.fakes import FakeClock


@pytest.fixture
async def synced(sync_env: SyncEnvironment) -> int:
    connection_id = make_jira_connection(sync_env)
    summary = await run_sync(sync_env, connection_id, SyncKind.FULL)
    assert summary.status.value == "succeeded", summary.errors
    return connection_id


async def all_pages(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[Any]:
    rows: list[Any] = []
    cursor = None
    while True:
        page = httpx.URL(url).copy_merge_params({"cursor": cursor}) if cursor else url
        body = (await client.get(page, headers=headers)).json()
        rows.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


def db_count(services: Services, *conditions: Any) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(t.WorkItem).where(*conditions)) or 0


@pytest.mark.usefixtures("synced")
async def test_cursor_pages_visit_every_item_once(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    rows = await all_pages(client, "/v1/items?limit=40", read_headers)
    assert len(rows) == 150
    assert len({r["id"] for r in rows}) == 150
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


@pytest.mark.usefixtures("synced")
async def test_an_item_carries_the_unified_fields(
    client: httpx.AsyncClient, read_headers: dict[str, str], simulator: JiraSimulator
) -> None:
    body = (await client.get("/v1/items?limit=1", headers=read_headers)).json()
    item = body["data"][0]
    issue = simulator.issues[int(item["vendor_id"])]
    assert item["key"] == issue.key
    assert item["title"] == issue.summary
    assert item["tool"] == "jira"
    assert item["connection_name"] == "sales"
    assert item["url"] == f"http://127.0.0.1:8101/browse/{issue.key}"
    assert item["status_name"] == issue.status
    assert item["project_key"] == issue.key.split("-")[0]
    assert item["updated_at"].endswith("Z")


@pytest.mark.usefixtures("synced")
async def test_filters_combine(
    client: httpx.AsyncClient, read_headers: dict[str, str], services: Services
) -> None:
    rows = await all_pages(
        client, "/v1/items?status_category=todo,in_progress&tool=jira&limit=200", read_headers
    )
    expected = db_count(services, t.WorkItem.status_category.in_(["todo", "in_progress"]))
    assert len(rows) == expected > 0
    assert {r["status_category"] for r in rows} == {"todo", "in_progress"}


@pytest.mark.usefixtures("synced")
async def test_filter_by_assignee_email_and_due_dates(
    client: httpx.AsyncClient, read_headers: dict[str, str], simulator: JiraSimulator
) -> None:
    email = next(i.assignee.email for i in simulator.issues.values() if i.assignee)
    rows = await all_pages(client, f"/v1/items?assignee={email}&limit=200", read_headers)
    assert rows
    assert {r["assignee_email"] for r in rows} == {email}
    due = await all_pages(
        client, "/v1/items?due_before=2026-11-20&due_after=2026-10-31", read_headers
    )
    assert all("2026-11-01" <= r["due_date"] <= "2026-11-19" for r in due)


@pytest.mark.usefixtures("synced")
async def test_csv_has_a_header_and_one_row_per_item(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    response = await client.get("/v1/items?format=csv&limit=10", headers=read_headers)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["X-Next-Cursor"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 10
    assert rows[0]["tool"] == "jira"
    via_accept = await client.get(
        "/v1/items?limit=10", headers={**read_headers, "Accept": "text/csv"}
    )
    assert via_accept.text == response.text


async def test_csv_cells_never_become_spreadsheet_formulas(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    simulator: JiraSimulator,
    sync_env: SyncEnvironment,
) -> None:
    simulator.update_issue("CRM-1", summary='=HYPERLINK("http://evil.example","click")')
    await run_sync(sync_env, make_jira_connection(sync_env), SyncKind.FULL)
    response = await client.get("/v1/items?format=csv&limit=200", headers=read_headers)
    titles = [r["title"] for r in csv.DictReader(io.StringIO(response.text))]
    assert '\'=HYPERLINK("http://evil.example","click")' in titles


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status_category=almost", "status_category"),
        ("tool=basecamp", "tool"),
        ("connection=abc", "connection"),
        ("cursor=not-a-cursor", "cursor"),
        ("updated_since=2026-11-01T00:00:00", "updated_since"),
        ("limit=0", "limit"),
        ("due_before=yesterday", "due_before"),
    ],
)
async def test_bad_queries_get_a_422_naming_the_field(
    client: httpx.AsyncClient, read_headers: dict[str, str], query: str, field: str
) -> None:
    response = await client.get(f"/v1/items?{query}", headers=read_headers)
    assert response.status_code == 422
    error = response.json()["error"]
    named = error.get("field") or error["problems"][0]["field"]
    assert named == field


async def test_updated_since_and_tombstones_serve_incremental_bi_loads(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    simulator: JiraSimulator,
    sync_env: SyncEnvironment,
    synced: int,
    clock: FakeClock,
) -> None:
    clock.advance(3600)
    since = httpx.QueryParams({"updated_since": clock().isoformat()})
    simulator.delete_issue("CRM-3")
    await run_sync(sync_env, synced, SyncKind.CENSUS)

    live = await all_pages(client, f"/v1/items?{since}", read_headers)
    with_tombstones = await all_pages(
        client, f"/v1/items?{since}&include_deleted=true", read_headers
    )
    assert live == []
    assert [(r["key"], r["deleted_at"] is not None) for r in with_tombstones] == [("CRM-3", True)]


@pytest.mark.usefixtures("synced")
async def test_projects_and_milestones_list_with_counts(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    simulator: JiraSimulator,
    services: Services,
) -> None:
    projects = (await client.get("/v1/projects", headers=read_headers)).json()["data"]
    assert sorted(p["key"] for p in projects) == sorted(simulator.projects)
    milestones = await all_pages(client, "/v1/milestones", read_headers)
    assert len(milestones) == len(simulator.versions)
    with services.sessions() as session:
        linked = session.scalar(
            select(func.count()).select_from(t.WorkItem).where(t.WorkItem.milestone_id.is_not(None))
        )
    assert sum(m["items"] for m in milestones) == linked
    assert all(m["items_done"] <= m["items"] for m in milestones)


async def test_an_empty_store_answers_empty_pages(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    for path in ("/v1/items", "/v1/projects", "/v1/milestones"):
        assert (await client.get(path, headers=read_headers)).json() == {
            "data": [],
            "next_cursor": None,
        }
