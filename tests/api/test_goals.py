"""/v1/goals: create, read, change and delete goals; precise 422s; scopes of keys;
measurements of numeric goals; activating a goal that is not SMART says why."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from api.services import Services
from sync.model import Milestone, Project, StatusCategory, Tool
from sync.store.crypto import SecretBox
from tests.api.conftest import make_key
from tests.builders_goals import item, make_connection, milestone_id, project_id, write
from tests.fakes import FakeClock

GOAL: dict[str, Any] = {
    "title": "Every EMEA rep works their pipeline in the CRM",
    "description": "All EMEA reps log calls and deals in the CRM instead of spreadsheets.",
    "owner": "ana@example.com",
    "metric": "items_done",
    "unit": "reps",
    "baseline": 0,
    "target": 20,
    "start_date": "2026-11-01",
    "due_date": "2026-12-31",
    "relevance": "Forecast accuracy needs one source of pipeline truth.",
}


@pytest.fixture
def write_headers(services: Services) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(services, 'write')}"}


@pytest.fixture
def crm(services: Services, box: SecretBox, clock: FakeClock) -> dict[str, int]:
    """A Jira connection with one project, a milestone and 20 items, 10 done."""
    now = clock()
    sessions = services.sessions
    jira = make_connection(
        sessions,
        box,
        name="sales-jira",
        tool=Tool.JIRA,
        now=now,
        synced_at=now - timedelta(hours=1),
    )
    trello = make_connection(sessions, box, name="ops-trello", tool=Tool.TRELLO, now=now)
    write(
        sessions,
        jira,
        Tool.JIRA,
        now=now,
        projects=[Project("P1", "CRM", "CRM Rollout")],
        milestones=[Milestone("M1", "P1", "EMEA live", due_date=date(2026, 12, 15))],
        items=[
            item(str(n), StatusCategory.DONE if n < 10 else StatusCategory.TODO, milestone="M1")
            for n in range(20)
        ],
    )
    write(sessions, trello, Tool.TRELLO, now=now, projects=[Project("B1", None, "Ops board")])
    return {
        "jira": jira,
        "trello": trello,
        "project": project_id(sessions, jira, "P1"),
        "board": project_id(sessions, trello, "B1"),
        "milestone": milestone_id(sessions, jira, "M1"),
    }


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await client.post("/v1/goals", json=GOAL | fields, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def rejected(
    client: httpx.AsyncClient, headers: dict[str, str], method: str, url: str, body: Any
) -> dict[str, Any]:
    response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    if "field" not in error:  # request validation: the first problem names the field
        error["field"] = error["problems"][0]["field"]
    return error


async def test_a_goal_is_created_read_listed_changed_and_deleted(
    client: httpx.AsyncClient,
    write_headers: dict[str, str],
    read_headers: dict[str, str],
    crm: dict[str, int],
) -> None:
    scope = [{"connection_id": crm["jira"], "project_id": crm["project"], "labels": ["emea"]}]
    created = await create(client, write_headers, scope=scope)
    goal_id = created["id"]
    assert created["status"] == "draft"
    assert created["scope"] == [
        {
            "connection_id": crm["jira"],
            "project_id": crm["project"],
            "milestone_id": None,
            "assignee_id": None,
            "labels": ["emea"],
            "item_types": [],
        }
    ]
    assert (created["at_risk_below"], created["off_track_below"]) == (-0.1, -0.25)
    assert created["smart"] is None  # only active goals are checked on write

    fetched = (await client.get(f"/v1/goals/{goal_id}", headers=read_headers)).json()
    assert fetched == created | {"smart": None}
    listed = (await client.get("/v1/goals", headers=read_headers)).json()
    assert [g["id"] for g in listed["data"]] == [goal_id]

    patched = await client.patch(
        f"/v1/goals/{goal_id}",
        json={"title": "All EMEA reps in the CRM", "confidence": 0.7, "scope": []},
        headers=write_headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["title"], body["confidence"], body["scope"]) == (
        "All EMEA reps in the CRM",
        0.7,
        [],
    )
    assert body["description"] == GOAL["description"]  # untouched fields stay

    assert (await client.delete(f"/v1/goals/{goal_id}", headers=write_headers)).status_code == 204
    gone = await client.get(f"/v1/goals/{goal_id}", headers=read_headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["type"] == "NotFound"


async def test_reading_needs_a_read_key_and_changing_a_write_key(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    assert (await client.get("/v1/goals")).status_code == 401
    refused = await client.post("/v1/goals", json=GOAL, headers=read_headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "this API key lacks the 'write' scope"
    assert (await client.post("/v1/goals/snapshots", headers=read_headers)).status_code == 403


@pytest.mark.usefixtures("crm")
async def test_target_equal_to_baseline_and_due_before_start_are_refused(
    client: httpx.AsyncClient, write_headers: dict[str, str]
) -> None:
    error = await rejected(client, write_headers, "POST", "/v1/goals", GOAL | {"baseline": 20})
    assert error["field"] == "target"
    assert error["message"].startswith("target equals the baseline (20)")
    error = await rejected(
        client, write_headers, "POST", "/v1/goals", GOAL | {"due_date": "2026-10-01"}
    )
    assert (error["field"], error["message"]) == (
        "due_date",
        "due_date 2026-10-01 is before start_date 2026-11-01",
    )
    error = await rejected(
        client, write_headers, "POST", "/v1/goals", GOAL | {"metric": "numeric", "target": None}
    )
    assert error["field"] == "target"
    error = await rejected(
        client,
        write_headers,
        "POST",
        "/v1/goals",
        GOAL | {"at_risk_below": -0.3, "off_track_below": -0.1},
    )
    assert error["field"] == "off_track_below"
    error = await rejected(client, write_headers, "POST", "/v1/goals", GOAL | {"status": "done"})
    assert error["field"] == "status"


async def test_selectors_must_name_things_that_exist_and_agree(
    client: httpx.AsyncClient, write_headers: dict[str, str], crm: dict[str, int]
) -> None:
    async def scope_error(*selectors: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = GOAL | fields | {"scope": list(selectors)}
        return await rejected(client, write_headers, "POST", "/v1/goals", body)

    error = await scope_error({"connection_id": crm["jira"]}, {"connection_id": 999})
    assert error["field"] == "scope[1].connection_id"
    assert error["message"].startswith("scope[1].connection_id: no connection 999")
    error = await scope_error({"connection_id": crm["trello"], "project_id": crm["project"]})
    assert error["field"] == "scope[0].project_id"
    assert (
        f"belongs to connection {crm['jira']}, not to connection {crm['trello']}"
        in (error["message"])
    )
    error = await scope_error({"milestone_id": 12345})
    assert error["field"] == "scope[0].milestone_id"
    error = await scope_error({"assignee_email": "nobody@example.com"})
    assert error["field"] == "scope[0].assignee_email"
    error = await scope_error({})
    assert (error["field"], error["message"]) == (
        "scope[0]",
        "scope[0] is empty and would match everything: name at least a connection",
    )
    error = await scope_error(
        {"connection_id": crm["jira"], "labels": ["q4"]}, metric="milestones_reached"
    )
    assert error["field"] == "scope[0].labels"
    error = await scope_error({"connection_id": crm["jira"], "colour": "red"})
    assert error["field"] == "scope.0.colour"  # unknown fields are refused, not ignored


async def test_a_cycle_of_parents_is_refused(
    client: httpx.AsyncClient, write_headers: dict[str, str]
) -> None:
    top = await create(client, write_headers, title="Grow EMEA pipeline")
    middle = await create(client, write_headers, title="Onboard EMEA reps", parent_id=top["id"])
    low = await create(client, write_headers, title="Train EMEA reps", parent_id=middle["id"])

    error = await rejected(
        client, write_headers, "PATCH", f"/v1/goals/{top['id']}", {"parent_id": low["id"]}
    )
    assert error["field"] == "parent_id"
    chain = f"{top['id']} -> {low['id']} -> {middle['id']} -> {top['id']}"
    assert error["message"] == (
        f"parent_id: that would make a cycle of parents ({chain}); "
        "a goal cannot roll up into itself"
    )
    error = await rejected(
        client, write_headers, "PATCH", f"/v1/goals/{top['id']}", {"parent_id": top["id"]}
    )
    assert error["field"] == "parent_id"
    error = await rejected(client, write_headers, "POST", "/v1/goals", GOAL | {"parent_id": 999})
    assert error["message"] == "parent_id: no goal 999"
    error = await rejected(
        client, write_headers, "PATCH", f"/v1/goals/{top['id']}", {"title": None}
    )
    assert error["field"] == "title"

    refused = await client.delete(f"/v1/goals/{middle['id']}", headers=write_headers)
    assert refused.status_code == 409
    assert "has child goals" in refused.json()["error"]["message"]


async def test_measurements_feed_a_numeric_goal_latest_measured_first(
    client: httpx.AsyncClient,
    write_headers: dict[str, str],
    read_headers: dict[str, str],
    clock: FakeClock,
) -> None:
    goal = await create(
        client, write_headers, metric="numeric", unit="kEUR", baseline=100, target=500
    )
    url = f"/v1/goals/{goal['id']}/measurements"
    for value, hours_ago in ((300, 2), (200, 30)):  # the older one arrives last
        at = (clock() - timedelta(hours=hours_ago)).isoformat()
        response = await client.post(
            url, json={"value": value, "measured_at": at, "source": "crm"}, headers=write_headers
        )
        assert response.status_code == 201, response.text
    assert response.json()["source"] == "crm"
    listed = (await client.get(url, headers=read_headers)).json()
    assert [m["value"] for m in listed] == [200, 300]
    rollup = (await client.get(f"/v1/goals/{goal['id']}/rollup", headers=read_headers)).json()
    assert (rollup["current"], rollup["progress"]) == (300, 0.5)
    assert rollup["measurement"]["source"] == "crm"

    future = (clock() + timedelta(hours=1)).isoformat()
    error = await rejected(client, write_headers, "POST", url, {"value": 1, "measured_at": future})
    assert error["field"] == "measured_at"
    error = await rejected(
        client, write_headers, "POST", url, {"value": 1, "measured_at": "2026-11-19T10:00:00"}
    )
    assert error["field"] == "measured_at"  # a time without a zone is ambiguous


async def test_only_numeric_goals_take_measurements(
    client: httpx.AsyncClient, write_headers: dict[str, str], clock: FakeClock
) -> None:
    goal = await create(client, write_headers)
    error = await rejected(
        client,
        write_headers,
        "POST",
        f"/v1/goals/{goal['id']}/measurements",
        {"value": 3, "measured_at": clock().isoformat()},
    )
    assert error["message"] == (
        f"goal {goal['id']} measures items_done from its scope; measurements are for numeric goals"
    )
    missing = await client.post(
        "/v1/goals/999/measurements",
        json={"value": 3, "measured_at": clock().isoformat()},
        headers=write_headers,
    )
    assert missing.status_code == 404


async def test_activating_a_goal_that_is_not_smart_is_allowed_and_says_why(
    client: httpx.AsyncClient,
    write_headers: dict[str, str],
    read_headers: dict[str, str],
    crm: dict[str, int],
) -> None:
    goal = await create(
        client,
        write_headers,
        owner=None,
        relevance=None,
        scope=[{"connection_id": crm["trello"]}],  # a board with no cards
    )
    response = await client.patch(
        f"/v1/goals/{goal['id']}", json={"status": "active"}, headers=write_headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "active"
    smart = body["smart"]
    assert (smart["smart"], smart["verdict"]) == (False, "fail")
    verdicts = {c["letter"]: c["verdict"] for c in smart["checks"]}
    assert verdicts == {"S": "fail", "M": "fail", "A": "warn", "R": "fail", "T": "pass"}
    s = next(c for c in smart["checks"] if c["letter"] == "S")
    assert s["reasons"] == [
        "no owner: set owner to the person accountable",
        "the scope matches no live items: check the selectors, or sync the connections they name",
    ]
    m = next(c for c in smart["checks"] if c["letter"] == "M")
    assert "connection ops-trello (trello) has never synced" in m["reasons"][0]
    again = (await client.get(f"/v1/goals/{goal['id']}/smart", headers=read_headers)).json()
    assert again["checks"] == smart["checks"]


async def test_a_smart_goal_passes_on_activation(
    client: httpx.AsyncClient, write_headers: dict[str, str], crm: dict[str, int]
) -> None:
    goal = await create(
        client,
        write_headers,
        status="active",
        scope=[{"connection_id": crm["jira"], "milestone_id": crm["milestone"]}],
    )
    verdicts = {c["letter"]: c["verdict"] for c in goal["smart"]["checks"]}
    assert verdicts == {"S": "pass", "M": "pass", "A": "pass", "R": "pass", "T": "pass"}
    assert goal["smart"]["smart"] is True


async def test_unknown_goals_are_404_everywhere(
    client: httpx.AsyncClient, read_headers: dict[str, str], write_headers: dict[str, str]
) -> None:
    for path in ("", "/rollup", "/smart", "/forecast", "/history", "/measurements"):
        response = await client.get(f"/v1/goals/424242{path}", headers=read_headers)
        assert response.status_code == 404, path
    patch = await client.patch("/v1/goals/424242", json={"title": "x"}, headers=write_headers)
    assert patch.status_code == 404
