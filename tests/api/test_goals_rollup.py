"""Rollups across tools with provenance, the portfolio view (JSON and CSV), snapshots with
"what did we report then", burn-up history, forecasts and nested goals, over the API."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import and_, func, or_, select

from api.services import Services
from sandbox.jira import JiraSimulator
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import Project, StatusCategory, SyncKind, Tool
from sync.store import tables as t
from sync.store.crypto import SecretBox
from tests.api.conftest import make_key
from tests.builders import make_jira_connection
from tests.builders_goals import item, make_connection, write
from tests.fakes import FakeClock

DONE, TODO, CANCELLED = StatusCategory.DONE, StatusCategory.TODO, StatusCategory.CANCELLED


@dataclass
class Tools:
    jira: int
    trello: int
    asana: int
    crm: int


@pytest.fixture
def write_headers(services: Services) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(services, 'write')}"}


@pytest.fixture
async def tools(
    services: Services, sync_env: SyncEnvironment, box: SecretBox, clock: FakeClock
) -> Tools:
    """Jira synced from its simulator; Trello and Asana records written through the store."""
    jira = make_jira_connection(sync_env)
    summary = await run_sync(sync_env, jira, SyncKind.FULL)
    assert summary.status.value == "succeeded", summary.errors
    now, sessions = clock(), services.sessions
    trello = make_connection(
        sessions, box, name="ops-trello", tool=Tool.TRELLO, now=now, synced_at=now - 2 * HOUR
    )
    write(
        sessions,
        trello,
        Tool.TRELLO,
        now=now,
        projects=[Project("B1", None, "EMEA onboarding")],
        items=[
            item("c1", DONE, project="B1", item_type="card"),
            item("c2", DONE, project="B1", item_type="card"),
            item("c3", TODO, project="B1", item_type="card"),
            item("c4", CANCELLED, project="B1", item_type="card"),
        ],
    )
    asana = make_connection(
        sessions, box, name="enablement-asana", tool=Tool.ASANA, now=now, synced_at=now - 30 * HOUR
    )
    write(
        sessions,
        asana,
        Tool.ASANA,
        now=now,
        projects=[Project("A1", None, "Sales enablement")],
        items=[
            item("t1", DONE, project="A1", labels=["q4"]),
            item("t2", TODO, project="A1", labels=["q4", "emea"]),
            item("t3", DONE, project="A1", labels=["q3"]),  # outside the scope
        ],
    )
    return Tools(jira, trello, asana, project_by_key(services, jira, "CRM"))


HOUR = timedelta(hours=1)


def project_by_key(services: Services, connection_id: int, key: str) -> int:
    with services.sessions() as session:
        return session.execute(
            select(t.Project.id).where(
                t.Project.connection_id == connection_id, t.Project.key == key
            )
        ).scalar_one()


def scope_of(tools: Tools) -> list[dict[str, Any]]:
    return [
        {"connection_id": tools.jira, "project_id": tools.crm},
        {"connection_id": tools.jira, "item_types": ["Bug"]},  # overlaps CRM's bugs
        {"connection_id": tools.trello},
        {"connection_id": tools.asana, "labels": ["q4"]},
    ]


def jira_counts(services: Services, tools: Tools) -> dict[str, int]:
    """The Jira part of the scope, counted independently with plain SQL."""
    w = t.WorkItem
    in_scope = and_(
        w.connection_id == tools.jira, or_(w.project_id == tools.crm, w.item_type == "Bug")
    )
    live = and_(w.deleted_at.is_(None), w.access_lost_at.is_(None))
    with services.sessions() as session:

        def count(*conditions: Any) -> int:
            return session.scalar(select(func.count()).where(in_scope, *conditions)) or 0

        return {
            "items": count(live, w.status_category != "cancelled"),
            "done": count(live, w.status_category == "done"),
            "cancelled": count(live, w.status_category == "cancelled"),
            "deleted": count(w.deleted_at.is_not(None)),
        }


async def create_goal(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {
        "title": "EMEA sales team onboarded across tools",
        "owner": "ana@example.com",
        "metric": "items_done",
        "start_date": "2026-10-01",
        "due_date": "2027-01-31",
        "status": "active",
    } | fields
    response = await client.post("/v1/goals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def get(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_goal_across_three_tools_shows_where_its_value_comes_from(
    client: httpx.AsyncClient,
    write_headers: dict[str, str],
    read_headers: dict[str, str],
    services: Services,
    tools: Tools,
) -> None:
    goal = await create_goal(client, write_headers, scope=scope_of(tools))
    rollup = await get(client, f"/v1/goals/{goal['id']}/rollup", read_headers)

    jira = jira_counts(services, tools)
    # Trello: 3 counted (c4 cancelled), 2 done. Asana: t1 and t2 carry q4, t1 done.
    assert rollup["scope_items"] == jira["items"] + 3 + 2
    assert rollup["done_items"] == jira["done"] + 2 + 1
    assert rollup["current"] == rollup["done_items"]
    assert (rollup["target"], rollup["target_from_scope"]) == (rollup["scope_items"], True)
    assert rollup["exclusions"] == {
        "deleted": 0,
        "access_lost": 0,
        "cancelled": jira["cancelled"] + 1,
    }
    sources = rollup["sources"]
    assert {s["tool"] for s in sources} == {"jira", "trello", "asana"}
    assert sum(s["items"] for s in sources) == rollup["scope_items"]
    assert sum(s["done"] for s in sources) == rollup["done_items"]
    assert sum(s["contribution"] for s in sources) == rollup["current"]
    assert sum(s["share"] for s in sources) == pytest.approx(1.0, abs=1e-3)
    jira_projects = {s["project_name"] for s in sources if s["tool"] == "jira"}
    assert len(jira_projects) > 1  # bugs of other projects come in through the second selector
    trello = next(s for s in sources if s["tool"] == "trello")
    assert (trello["project_name"], trello["items"], trello["done"]) == ("EMEA onboarding", 3, 2)
    assert trello["excluded"] == {"deleted": 0, "access_lost": 0, "cancelled": 1}
    freshness = {f["connection_name"]: f["fresh"] for f in rollup["freshness"]}
    assert freshness == {"sales": True, "ops-trello": True, "enablement-asana": False}
    assert rollup["status"] in {"on_track", "at_risk", "off_track", "achieved"}
    assert rollup["status_reason"]


async def test_deleting_an_item_in_a_tool_and_syncing_changes_the_rollup_and_shows_why(
    client: httpx.AsyncClient,
    write_headers: dict[str, str],
    read_headers: dict[str, str],
    services: Services,
    sync_env: SyncEnvironment,
    simulator: JiraSimulator,
    tools: Tools,
) -> None:
    goal = await create_goal(client, write_headers, scope=scope_of(tools))
    before = await get(client, f"/v1/goals/{goal['id']}/rollup", read_headers)
    with services.sessions() as session:
        key = session.scalars(
            select(t.WorkItem.key)
            .where(t.WorkItem.project_id == tools.crm, t.WorkItem.status_category == "done")
            .order_by(t.WorkItem.id)
        ).first()
    assert key is not None
    simulator.delete_issue(key)

    summary = await run_sync(sync_env, tools.jira, SyncKind.CENSUS)
    assert (summary.status.value, summary.deleted) == ("succeeded", 1)

    after = await get(client, f"/v1/goals/{goal['id']}/rollup", read_headers)
    assert after["scope_items"] == before["scope_items"] - 1
    assert after["current"] == before["current"] - 1
    assert after["exclusions"]["deleted"] == 1
    crm = [s for s in after["sources"] if s["project_id"] == tools.crm]
    assert sum(s["excluded"]["deleted"] for s in crm) == 1
    assert jira_counts(services, tools)["deleted"] == 1


async def test_the_portfolio_view_as_json_and_csv(
    client: httpx.AsyncClient,
    write_headers: dict[str, str],
    read_headers: dict[str, str],
    tools: Tools,
) -> None:
    cross = await create_goal(client, write_headers, scope=scope_of(tools))
    board = await create_goal(
        client, write_headers, title="Ops board cleared", scope=[{"connection_id": tools.trello}]
    )
    numeric = await create_goal(
        client, write_headers, title="EMEA pipeline", metric="numeric", baseline=0, target=900
    )
    body = await get(client, "/v1/goals?include=rollup", read_headers)
    assert [g["id"] for g in body["data"]] == [cross["id"], board["id"], numeric["id"]]
    assert [g["rollup"]["current"] for g in body["data"]][1:] == [2, 0]
    plain = await get(client, "/v1/goals", read_headers)
    assert all(g["rollup"] is None for g in plain["data"])

    response = await client.get("/v1/goals?include=rollup&format=csv", headers=read_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["id"]) for r in rows] == [cross["id"], board["id"], numeric["id"]]
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[board["id"]]["progress"] == str(body["data"][1]["rollup"]["progress"])
    assert by_id[board["id"]]["rollup_status"] == body["data"][1]["rollup"]["status"]
    assert by_id[cross["id"]]["stale_sources"] == "enablement-asana"
    assert by_id[cross["id"]]["excluded_cancelled"] != "0"

    paged = await get(client, "/v1/goals?include=rollup&limit=2", read_headers)
    assert len(paged["data"]) == 2
    assert paged["next_cursor"]
    bad = await client.get("/v1/goals?include=risks", headers=read_headers)
    assert bad.status_code == 422


async def test_snapshots_answer_what_we_reported_then_and_draw_the_burn_up(
    client: httpx.AsyncClient,
    write_headers: dict[str, str],
    read_headers: dict[str, str],
    services: Services,
    clock: FakeClock,
    tools: Tools,
) -> None:
    goal = await create_goal(
        client, write_headers, scope=[{"connection_id": tools.trello}], target=4
    )
    await create_goal(client, write_headers, status="draft", scope=[{"connection_id": tools.asana}])
    first_day = clock().date()
    for _ in range(2):  # the same day twice: one snapshot
        taken = await client.post("/v1/goals/snapshots", headers=write_headers)
        assert taken.status_code == 200, taken.text
        assert taken.json() == {"day": first_day.isoformat(), "taken": 1}  # active goals only

    clock.advance(86_400)
    write(
        services.sessions,
        tools.trello,
        Tool.TRELLO,
        now=clock(),
        items=[
            item("c3", DONE, project="B1", item_type="card", updated_at=clock()),
            item("c5", TODO, project="B1", item_type="card", updated_at=clock()),
        ],
    )
    await client.post("/v1/goals/snapshots", headers=write_headers)

    url = f"/v1/goals/{goal['id']}"
    then = await get(client, f"{url}/rollup?as_of={first_day.isoformat()}", read_headers)
    now = await get(client, f"{url}/rollup", read_headers)
    assert (then["current"], then["scope_items"], then["from_snapshot"]) == (2, 3, True)
    assert then["as_of"] == first_day.isoformat()
    assert (now["current"], now["scope_items"], now["from_snapshot"]) == (3, 4, False)

    history = await get(
        client, f"{url}/history?from={first_day.isoformat()}&to={clock().date()}", read_headers
    )
    assert [(p["day"], p["value"], p["scope"], p["target"]) for p in history["points"]] == [
        (first_day.isoformat(), 2, 3, 4),
        ((first_day + timedelta(days=1)).isoformat(), 3, 4, 4),
    ]
    assert history["points"][0]["planned"] is not None

    early = await client.get(f"{url}/rollup?as_of=2026-01-01", headers=read_headers)
    assert early.status_code == 404
    assert "no snapshot on or before 2026-01-01" in early.json()["error"]["message"]
    backwards = await client.get(
        f"{url}/history?from=2026-12-01&to=2026-11-01", headers=read_headers
    )
    assert backwards.status_code == 422


async def test_the_forecast_is_seeded_and_its_window_configurable(
    client: httpx.AsyncClient,
    write_headers: dict[str, str],
    read_headers: dict[str, str],
    tools: Tools,
) -> None:
    goal = await create_goal(
        client, write_headers, scope=[{"connection_id": tools.jira, "project_id": tools.crm}]
    )
    url = f"/v1/goals/{goal['id']}/forecast?window_days=60&seed=3"
    first, second = await get(client, url, read_headers), await get(client, url, read_headers)
    assert first == second
    assert first["verdict"] in {"forecast", "stalled"}
    assert (first["window_days"], first["seed"], first["due_date"]) == (60, 3, "2027-01-31")
    assert len(first["daily"]) == first["history_days"]
    too_short = await client.get(
        f"/v1/goals/{goal['id']}/forecast?window_days=3", headers=read_headers
    )
    assert too_short.status_code == 422


async def test_a_parent_goal_rolls_up_its_children_by_weight(
    client: httpx.AsyncClient,
    write_headers: dict[str, str],
    read_headers: dict[str, str],
    tools: Tools,
) -> None:
    parent = await create_goal(
        client, write_headers, title="EMEA ready for Q1", progress_from="children"
    )
    board = await create_goal(  # 2 of 3 cards done
        client,
        write_headers,
        title="Ops board cleared",
        parent_id=parent["id"],
        weight=3,
        scope=[{"connection_id": tools.trello}],
    )
    pipeline = await create_goal(
        client,
        write_headers,
        title="EMEA pipeline",
        parent_id=parent["id"],
        metric="numeric",
        baseline=0,
        target=100,
        weight=1,
    )
    rollup = await get(client, f"/v1/goals/{parent['id']}/rollup", read_headers)
    assert rollup["counts"] == "goals"
    assert rollup["progress"] == pytest.approx((3 * 2 / 3 + 1 * 0) / 4, abs=1e-4)
    children = {c["goal_id"]: c for c in rollup["children"]}
    assert set(children) == {board["id"], pipeline["id"]}
    assert children[board["id"]]["contribution"] == pytest.approx(0.5, abs=1e-4)
    smart = await get(client, f"/v1/goals/{parent['id']}/smart", read_headers)
    assert smart["checks"][0]["verdict"] in {"pass", "fail"}
    forecast = await get(client, f"/v1/goals/{parent['id']}/forecast", read_headers)
    assert forecast["verdict"] == "not_applicable"
    assert date.fromisoformat(forecast["as_of"]) == date(2026, 11, 20)
