"""/v1/progress: counts by category, done shares by count and by points, overdue work, and
the freshness of each number's sources."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from api.services import Services
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import Milestone, Person, Project, StatusCategory, SyncKind
from sync.store.database import unit_of_work
from sync.store.records import Scope
from sync.store.tables import Connection
from tests.builders import make_jira_connection, make_work_item, store_records
from tests.fakes import FakeClock

TODAY = date(2026, 11, 20)  # the FakeClock's date
ANA = Person(vendor_id="u-ana", display_name="Ana", email="ana@example.com")
BEN = Person(vendor_id="u-ben", display_name="Ben", email="ben@example.com")


@pytest.fixture
def portfolio(services: Services, sync_env: SyncEnvironment, clock: FakeClock) -> int:
    """Two projects; the numbers below are worked out by hand in each test."""
    connection_id = make_jira_connection(sync_env)
    with unit_of_work(services.sessions) as session:
        session.get_one(Connection, connection_id).last_success_at = clock() - timedelta(hours=2)
    done, todo = StatusCategory.DONE, StatusCategory.TODO
    store_records(
        services.sessions,
        Scope(connection_id, "jira", clock()),
        projects=[Project("P1", "CRM", "CRM Rollout"), Project("P2", "PIPE", "Pipeline")],
        milestones=[Milestone("M1", "P1", "Q4 Launch", due_date=date(2026, 12, 15))],
        items=[
            make_work_item(
                vendor_id="1",
                status_category=done,
                estimate=3,
                assignee=ANA,
                milestone_vendor_id="M1",
            ),
            make_work_item(
                vendor_id="2",
                status_category=done,
                estimate=5,
                assignee=BEN,
                milestone_vendor_id="M1",
            ),
            make_work_item(
                vendor_id="3",
                status_category=todo,
                estimate=2,
                assignee=ANA,
                due_date=TODAY - timedelta(days=1),
                milestone_vendor_id="M1",
            ),
            make_work_item(
                vendor_id="4",
                status_category=StatusCategory.CANCELLED,
                estimate=8,
                due_date=TODAY - timedelta(days=9),
            ),
            make_work_item(
                vendor_id="5",
                status_category=StatusCategory.IN_PROGRESS,
                due_date=TODAY + timedelta(days=1),
                assignee=BEN,
            ),
            make_work_item(
                vendor_id="6", status_category=todo, project_vendor_id="P2", due_date=TODAY
            ),
        ],
    )
    return connection_id


async def progress(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> Any:
    response = await client.get(f"/v1/progress?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.usefixtures("portfolio")
async def test_by_project_counts_and_shares(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    body = await progress(client, read_headers, "group_by=project")
    assert body["as_of"] == "2026-11-20"
    crm, pipeline = body["groups"]
    assert crm["label"] == "CRM Rollout"
    assert (crm["total"], crm["todo"], crm["in_progress"], crm["done"], crm["cancelled"]) == (
        5,
        1,
        1,
        2,
        1,
    )
    assert crm["done_pct"] == 0.5  # 2 done of 4: cancelled work leaves the denominator
    assert (crm["points_total"], crm["points_done"]) == (10.0, 8.0)
    assert crm["done_pct_points"] == 0.8
    assert crm["overdue"] == 1  # the cancelled one is late but not overdue work
    assert (pipeline["label"], pipeline["total"], pipeline["overdue"]) == ("Pipeline", 1, 0)
    assert pipeline["done_pct_points"] is None  # no estimates: no share to report


async def test_freshness_names_each_source_and_its_age(
    client: httpx.AsyncClient, read_headers: dict[str, str], portfolio: int
) -> None:
    body = await progress(client, read_headers, "group_by=tool")
    (jira,) = body["groups"]
    assert jira["key"] == "jira"
    assert jira["freshness"] == [
        {
            "connection_id": portfolio,
            "connection_name": "sales",
            "tool": "jira",
            "state": "active",
            "last_success_at": "2026-11-20T07:00:00Z",
            "age_seconds": 7200.0,
        }
    ]


@pytest.mark.usefixtures("portfolio")
async def test_by_assignee_merges_people_and_keeps_the_unassigned(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    body = await progress(client, read_headers, "group_by=assignee")
    totals = {g["label"]: (g["total"], g["done"]) for g in body["groups"]}
    assert totals == {"Ana": (2, 1), "Ben": (2, 1), None: (2, 0)}


@pytest.mark.usefixtures("portfolio")
async def test_by_milestone(client: httpx.AsyncClient, read_headers: dict[str, str]) -> None:
    body = await progress(client, read_headers, "group_by=milestone")
    q4 = next(g for g in body["groups"] if g["label"] == "Q4 Launch")
    assert (q4["total"], q4["done"], q4["done_pct"]) == (3, 2, 0.6667)


@pytest.mark.usefixtures("portfolio")
async def test_filters_apply_before_grouping(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    body = await progress(client, read_headers, "group_by=project&status_category=done")
    assert [(g["label"], g["total"]) for g in body["groups"]] == [("CRM Rollout", 2)]


async def test_an_unknown_grouping_is_a_precise_422(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    response = await client.get("/v1/progress?group_by=colour", headers=read_headers)
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == "group_by"


async def test_progress_over_a_synced_jira(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    sync_env: SyncEnvironment,
    services: Services,
) -> None:
    await run_sync(sync_env, make_jira_connection(sync_env), SyncKind.FULL)
    body = await progress(client, read_headers, "group_by=tool")
    (jira,) = body["groups"]
    assert jira["total"] == 150
    assert jira["todo"] + jira["in_progress"] + jira["done"] + jira["cancelled"] == 150
