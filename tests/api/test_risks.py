"""/v1/risks: the register over HTTP (validation, history, links, filters, CSV), the matrix,
signals as JSON and CSV, and a goal's risk view and thresholds."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.services import Services
from insights.goals.definitions import SelectorDraft, create_goal
from sync.model import Milestone, StatusCategory
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from tests.api.conftest import make_key
from tests.builders_risks import NOW, TODAY, add_connection, row_id, work_item
from tests.builders_risks import store as write

DAY = timedelta(days=1)
PLAN = {
    "trigger": "the pilot misses the 1 Dec cut-over",
    "measures": "run the old CRM in parallel for December",
    "owner": "ana@example.com",
    "steps": ["freeze the migration", "re-open old CRM licences"],
}


@pytest.fixture
def write_headers(services: Services) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(services, 'write', name='lead')}"}


@pytest.fixture
def records(db: sessionmaker[Session], box: SecretBox) -> dict[str, int]:
    sales = add_connection(db, box)
    write(
        db,
        sales,
        milestones=[Milestone("M1", "P1", "Pilot", due_date=TODAY - 2 * DAY)],
        items=[
            work_item("1", StatusCategory.TODO, due=TODAY - DAY, milestone="M1"),
            work_item("2", StatusCategory.IN_PROGRESS),
        ],
    )
    return {
        "connection": sales,
        "item1": row_id(db, t.WorkItem, "1"),
        "item2": row_id(db, t.WorkItem, "2"),
        "milestone": row_id(db, t.Milestone, "M1"),
    }


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any], status: int = 201
) -> Any:
    response = await client.post("/v1/risks", json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


def risk(**fields: Any) -> dict[str, Any]:
    return {"title": "Data migration slips", "probability": 2, "impact": 3} | fields


async def test_a_risk_is_entered_scored_and_banded(
    client: httpx.AsyncClient, write_headers: dict[str, str], records: dict[str, int]
) -> None:
    body = await post(
        client,
        write_headers,
        risk(
            description="Legacy exports are incomplete",
            category="data",
            owner="Ana",
            response="mitigate",
            roam="owned",
            review_date="2026-11-27",
            residual_probability=1,
            residual_impact=3,
            links=[{"target_type": "item", "target_id": records["item1"]}],
        ),
    )
    assert {k: body[k] for k in ("score", "severity", "residual_score", "residual_severity")} == {
        "score": 6,
        "severity": "medium",
        "residual_score": 3,
        "residual_severity": "low",
    }
    assert (body["status"], body["contingency"], body["contingency_required"]) == (
        "open",
        None,
        False,
    )
    assert (body["created_by"], body["created_at"]) == ("lead", "2026-11-20T09:00:00Z")
    assert body["links"] == [
        {
            "target_type": "item",
            "target_id": records["item1"],
            "exists": True,
            "title": "Item 1",
            "key": "CRM-1",
            "url": "https://example.atlassian.net/browse/CRM-1",
            "tool": "jira",
        }
    ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"probability": 0}, "probability"),
        ({"impact": 6}, "impact"),
        ({"residual_probability": 9}, "residual_probability"),
        ({"response": "ignore"}, "response"),
        ({"title": ""}, "title"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_out_of_bounds_fields_are_422_naming_the_field(
    client: httpx.AsyncClient, write_headers: dict[str, str], fields: dict[str, Any], field: str
) -> None:
    body = await post(client, write_headers, risk(**fields), status=422)
    assert body["error"]["problems"][0]["field"] == field


async def test_a_high_risk_without_a_contingency_plan_is_422_saying_so(
    client: httpx.AsyncClient, write_headers: dict[str, str]
) -> None:
    body = await post(client, write_headers, risk(probability=4, impact=3), status=422)
    error = body["error"]
    assert error["type"] == "InvalidRequest"
    assert error["field"] == "contingency"
    assert error["message"].startswith("a high risk (score 12) needs a contingency plan")
    assert error["missing"] == ["trigger", "measures", "owner", "steps"]

    created = await post(client, write_headers, risk(probability=4, impact=3, contingency=PLAN))
    assert created["contingency"] == PLAN
    assert created["contingency_required"] is True


async def test_residuals_come_in_pairs_and_never_above_the_risk(
    client: httpx.AsyncClient, write_headers: dict[str, str]
) -> None:
    alone = await post(client, write_headers, risk(residual_probability=1), status=422)
    assert alone["error"]["field"] == "residual_impact"
    worse = await post(
        client, write_headers, risk(residual_probability=3, residual_impact=3), status=422
    )
    assert "cannot make a risk worse" in worse["error"]["message"]


async def test_links_to_unknown_targets_are_422(
    client: httpx.AsyncClient, write_headers: dict[str, str]
) -> None:
    body = await post(
        client,
        write_headers,
        risk(links=[{"target_type": "milestone", "target_id": 77}]),
        status=422,
    )
    assert body["error"]["message"] == "links: no milestone 77; GET /v1/milestones lists them"


async def test_reading_needs_read_and_changing_needs_write(
    client: httpx.AsyncClient, read_headers: dict[str, str], write_headers: dict[str, str]
) -> None:
    assert (await client.get("/v1/risks")).status_code == 401
    assert (await client.post("/v1/risks", json=risk(), headers=read_headers)).status_code == 403
    created = await post(client, write_headers, risk())
    patch = await client.patch(f"/v1/risks/{created['id']}", json={}, headers=read_headers)
    assert patch.status_code == 403
    assert (await client.get("/v1/risks", headers=read_headers)).status_code == 200


async def test_a_change_is_kept_in_the_history_with_who_when_and_what(
    client: httpx.AsyncClient,
    services: Services,
    write_headers: dict[str, str],
    records: dict[str, int],
    clock: Any,
) -> None:
    created = await post(client, write_headers, risk(owner="Ana"))
    clock.advance(3600)
    analyst = {"Authorization": f"Bearer {make_key(services, 'write', name='analyst')}"}
    response = await client.patch(
        f"/v1/risks/{created['id']}",
        json={
            "impact": 5,
            "probability": 3,
            "contingency": PLAN,
            "links": [{"target_type": "milestone", "target_id": records["milestone"]}],
        },
        headers=analyst,
    )
    assert response.status_code == 200, response.text
    assert response.json()["severity"] == "high"
    assert response.json()["updated_by"] == "analyst"

    history = (await client.get(f"/v1/risks/{created['id']}/history", headers=analyst)).json()

    first, second = history["data"]
    assert (first["action"], first["changed_by"], first["changed_at"]) == (
        "created",
        "lead",
        "2026-11-20T09:00:00Z",
    )
    assert (second["action"], second["changed_by"], second["changed_at"]) == (
        "updated",
        "analyst",
        "2026-11-20T10:00:00Z",
    )
    assert second["changes"]["impact"] == {"old": 3, "new": 5}
    assert second["changes"]["probability"] == {"old": 2, "new": 3}
    assert second["changes"]["contingency_steps"] == {"old": [], "new": PLAN["steps"]}
    assert second["changes"]["links"] == {
        "added": [f"milestone:{records['milestone']}"],
        "removed": [],
    }


async def test_a_patch_may_change_part_of_the_plan_or_remove_it(
    client: httpx.AsyncClient, write_headers: dict[str, str]
) -> None:
    created = await post(client, write_headers, risk(contingency=PLAN))
    url = f"/v1/risks/{created['id']}"
    owner = await client.patch(url, json={"contingency": {"owner": "ben"}}, headers=write_headers)
    assert owner.json()["contingency"] == PLAN | {"owner": "ben"}
    removed = await client.patch(url, json={"contingency": None}, headers=write_headers)
    assert removed.json()["contingency"] is None
    raised = await client.patch(url, json={"probability": 5}, headers=write_headers)
    assert raised.status_code == 422  # 15 is high: the plan is required again


async def test_unknown_risks_are_404(
    client: httpx.AsyncClient, read_headers: dict[str, str], write_headers: dict[str, str]
) -> None:
    for response in (
        await client.get("/v1/risks/999", headers=read_headers),
        await client.get("/v1/risks/999/history", headers=read_headers),
        await client.patch("/v1/risks/999", json={"impact": 1}, headers=write_headers),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["message"].startswith("no risk 999")


async def test_the_register_filters_pages_and_flags_overdue_reviews(
    client: httpx.AsyncClient, read_headers: dict[str, str], write_headers: dict[str, str]
) -> None:
    low = await post(client, write_headers, risk(probability=1, impact=1, owner="Ana"))
    late = await post(
        client, write_headers, risk(review_date=(TODAY - DAY).isoformat(), category="Data")
    )
    critical = await post(client, write_headers, risk(probability=5, impact=5, contingency=PLAN))
    closed = await post(client, write_headers, risk(status="closed"))

    async def ids(query: str) -> list[int]:
        response = await client.get(f"/v1/risks?{query}", headers=read_headers)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["data"]]

    assert await ids("severity=critical,low") == [low["id"], critical["id"]]
    assert await ids("status=closed") == [closed["id"]]
    assert await ids("review_overdue=true") == [late["id"]]
    assert await ids("owner=ana") == [low["id"]]
    assert await ids("category=data") == [late["id"]]
    page = (await client.get("/v1/risks?limit=3", headers=read_headers)).json()
    assert len(page["data"]) == 3
    rest = (
        await client.get(f"/v1/risks?limit=3&cursor={page['next_cursor']}", headers=read_headers)
    ).json()
    assert [r["id"] for r in rest["data"]] == [closed["id"]]
    assert rest["next_cursor"] is None
    bad = await client.get("/v1/risks?severity=huge", headers=read_headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "severity"


async def test_the_register_as_csv_flattens_plans_and_links(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    write_headers: dict[str, str],
    records: dict[str, int],
) -> None:
    await post(
        client,
        write_headers,
        risk(
            title="=HYPERLINK(1)",
            probability=4,
            contingency=PLAN,
            links=[{"target_type": "item", "target_id": records["item2"]}],
        ),
    )
    response = await client.get("/v1/risks?format=csv", headers=read_headers)
    assert response.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert row["title"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert (row["score"], row["severity"], row["contingency_required"]) == ("12", "high", "true")
    assert row["contingency_steps"] == "freeze the migration;re-open old CRM licences"
    assert row["links"] == f"item:{records['item2']}"


async def test_the_matrix_counts_open_risks_inherent_and_residual(
    client: httpx.AsyncClient, read_headers: dict[str, str], write_headers: dict[str, str]
) -> None:
    a = await post(client, write_headers, risk(probability=2, impact=3))
    b = await post(
        client,
        write_headers,
        risk(probability=2, impact=3, residual_probability=1, residual_impact=1),
    )
    c = await post(client, write_headers, risk(probability=5, impact=4, contingency=PLAN))
    await post(client, write_headers, risk(probability=2, impact=3, status="closed"))

    body = (await client.get("/v1/risks/matrix", headers=read_headers)).json()

    cells = {(c["probability"], c["impact"]): c for c in body["inherent"]["cells"]}
    assert len(cells) == 25
    assert (cells[(2, 3)]["count"], cells[(2, 3)]["risk_ids"]) == (2, [a["id"], b["id"]])
    assert (cells[(5, 4)]["count"], cells[(5, 4)]["severity"]) == (1, "critical")
    assert body["inherent"]["total"] == 3
    assert body["inherent"]["by_severity"] == {"critical": 1, "high": 0, "medium": 2, "low": 0}
    residual = {(c["probability"], c["impact"]): c["count"] for c in body["residual"]["cells"]}
    assert residual[(1, 1)] == 1
    assert body["residual"]["total"] == 1
    assert body["residual_unassessed"] == [a["id"], c["id"]]


async def test_signals_as_json_and_csv(
    client: httpx.AsyncClient, read_headers: dict[str, str], records: dict[str, int]
) -> None:
    body = (await client.get("/v1/risks/signals", headers=read_headers)).json()
    assert body["as_of"] == "2026-11-20T09:00:00Z"
    kinds = [(s["kind"], s["subject"]["id"]) for s in body["data"]]
    assert kinds == [
        ("overdue_milestone", records["milestone"]),  # 16: high, so first
        ("overdue_item", records["item1"]),
    ]
    item = body["data"][1]
    assert item["key"] == f"overdue_item:item:{records['item1']}"
    assert (item["severity"], item["suggested_score"], item["managed"]) == ("medium", 8, False)
    assert item["since"] == "2026-11-20T00:00:00Z"
    assert item["milestones"][0]["title"] == "Pilot"
    assert (body["count"], body["unmanaged"]) == (2, 2)

    response = await client.get("/v1/risks/signals", headers=read_headers | {"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["kind"] for r in rows] == ["overdue_milestone", "overdue_item"]
    assert rows[1]["subject_url"] == "https://example.atlassian.net/browse/CRM-1"
    assert rows[1]["milestone_ids"] == str(records["milestone"])
    assert rows[1]["managed"] == "false"


async def test_signal_filters_are_checked(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    for query, field in (("kind=late", "kind"), ("goal=x", "goal"), ("goal=404", "goal")):
        response = await client.get(f"/v1/risks/signals?{query}", headers=read_headers)
        assert response.status_code == 422
        assert response.json()["error"]["field"] == field


@pytest.fixture
def goal(db: sessionmaker[Session], records: dict[str, int]) -> int:
    with unit_of_work(db) as session:
        created = create_goal(
            session,
            {
                "title": "Pilot live",
                "metric": "items_done",
                "status": "active",
                "start_date": TODAY - 30 * DAY,
                "due_date": TODAY + 30 * DAY,
            },
            [SelectorDraft(milestone_id=records["milestone"])],
            now=NOW,
        )
    return created.id


async def test_a_goal_view_shows_its_risks_signals_and_rollup(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    write_headers: dict[str, str],
    records: dict[str, int],
    goal: int,
) -> None:
    linked = await post(
        client, write_headers, risk(links=[{"target_type": "goal", "target_id": goal}])
    )
    await post(client, write_headers, risk(title="Elsewhere"))

    body = (await client.get(f"/v1/goals/{goal}/risks", headers=read_headers)).json()

    assert body["title"] == "Pilot live"
    assert [r["id"] for r in body["risks"]] == [linked["id"]]
    assert [s["kind"] for s in body["signals"]] == ["overdue_milestone", "overdue_item"]
    assert body["rollup"]["status"] in {"on_track", "at_risk", "off_track"}
    assert (body["open_risks"], body["unmanaged_signals"]) == (1, 2)
    assert body["thresholds"]["due_soon_days"] == 7
    matrix = (await client.get(f"/v1/risks/matrix?goal={goal}", headers=read_headers)).json()
    assert matrix["inherent"]["total"] == 1
    listed = (await client.get(f"/v1/risks?goal={goal}", headers=read_headers)).json()
    assert [r["id"] for r in listed["data"]] == [linked["id"]]
    assert (await client.get("/v1/goals/404/risks", headers=read_headers)).status_code == 404


async def test_a_goal_overrides_thresholds_and_null_restores_the_default(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    write_headers: dict[str, str],
    goal: int,
) -> None:
    url = f"/v1/goals/{goal}/risk-thresholds"
    put = await client.put(
        url, json={"due_soon_days": 14, "scope_creep_pct": 5}, headers=write_headers
    )
    assert put.status_code == 200, put.text
    assert put.json()["effective"] == {
        "due_soon_days": 14,
        "stale_days": 14,
        "scope_creep_pct": 5.0,
        "forecast_slip_days": 0,
    }
    again = await client.put(url, json={"scope_creep_pct": 5}, headers=write_headers)
    assert again.json()["overrides"]["due_soon_days"] is None
    assert again.json()["effective"]["due_soon_days"] == 7
    assert (await client.get(url, headers=read_headers)).json() == again.json()
    bad = await client.put(url, json={"stale_days": 0}, headers=write_headers)
    assert bad.status_code == 422
    assert (await client.put(url, json={}, headers=read_headers)).status_code == 403
