"""End to end on the Jira simulator: what changes in the tool shows up as signals after a
sync; a signal promoted into the register leaves the unmanaged list; finishing the work in
the tool resolves the signal."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from sandbox.jira import JiraSimulator
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import SyncKind
from tests.api.conftest import make_key
from tests.builders import make_jira_connection
from tests.fakes import FakeClock

TODAY = date(2026, 11, 20)  # the FakeClock's and the simulator's day
HOUR = 3600


@pytest.fixture
async def synced(sync_env: SyncEnvironment) -> int:
    connection_id = make_jira_connection(sync_env)
    summary = await run_sync(sync_env, connection_id, SyncKind.FULL)
    assert summary.status.value == "succeeded", summary.errors
    return connection_id


@pytest.fixture
def write_headers(services: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(services, 'write', name='lead')}"}


def quiet_issue(simulator: JiraSimulator, *, skip: tuple[str, ...] = ()) -> str:
    """An open issue no signal concerns yet (To Do, assigned, no due date, no label) and of
    ordinary priority, so that once late it is a medium risk: no contingency plan needed."""
    return next(
        i.key
        for i in sorted(simulator.issues.values(), key=lambda i: i.id)
        if i.status == "To Do"
        and i.duedate is None
        and i.assignee is not None
        and not i.labels
        and i.priority in ("Medium", "Low", "Lowest")
        and i.key not in skip
    )


async def change_in_tool(
    sync_env: SyncEnvironment,
    simulator: JiraSimulator,
    clock: FakeClock,
    connection_id: int,
    key: str,
    **changes: Any,
) -> None:
    simulator.advance(HOUR)
    simulator.update_issue(key, **changes)
    clock.advance(HOUR)
    summary = await run_sync(sync_env, connection_id, SyncKind.INCREMENTAL)
    assert summary.status.value == "succeeded", summary.errors


async def signals(client: httpx.AsyncClient, headers: dict[str, str], query: str = "") -> Any:
    response = await client.get(f"/v1/risks/signals?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def about(rows: list[dict[str, Any]], key: str, kind: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["subject"]["key"] == key and r["kind"] == kind]


async def test_an_item_made_overdue_in_jira_is_signalled_promoted_and_resolved(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    write_headers: dict[str, str],
    sync_env: SyncEnvironment,
    simulator: JiraSimulator,
    clock: FakeClock,
    synced: int,
) -> None:
    key = quiet_issue(simulator)
    assert about(await signals(client, read_headers), key, "overdue_item") == []

    await change_in_tool(sync_env, simulator, clock, synced, key, duedate=TODAY - timedelta(days=1))

    unmanaged = await signals(client, read_headers, "unmanaged=true&kind=overdue_item")
    (signal,) = about(unmanaged, key, "overdue_item")
    assert signal["subject"]["url"] == f"http://127.0.0.1:8101/browse/{key}"
    assert signal["reason"].startswith("due 2026-11-19, 1 day ago, and still To Do")
    assert signal["connection_id"] == synced

    promoted = await client.post(
        "/v1/risks/from-signal",
        json={"signal_key": signal["key"], "owner": "ana@example.com", "review_date": "2026-11-27"},
        headers=write_headers,
    )
    assert promoted.status_code == 201, promoted.text
    risk = promoted.json()
    assert (risk["probability"], risk["impact"]) == (
        signal["suggested_probability"],
        signal["suggested_impact"],
    )
    assert risk["source_signal_key"] == signal["key"]
    assert risk["owner"] == "ana@example.com"
    assert {"target_type": "item", "target_id": signal["subject"]["id"]}.items() <= risk["links"][
        0
    ].items()
    assert about(await signals(client, read_headers, "unmanaged=true"), key, "overdue_item") == []
    (covered,) = about(
        await signals(client, read_headers, "kind=overdue_item"), key, "overdue_item"
    )
    assert (covered["covered_by"], covered["managed"]) == ([risk["id"]], True)
    again = await client.post(
        "/v1/risks/from-signal", json={"signal_key": signal["key"]}, headers=write_headers
    )
    assert again.status_code == 409
    one = (await client.get(f"/v1/risks/{risk['id']}", headers=read_headers)).json()
    assert one["source_signal_active"] is True

    await change_in_tool(sync_env, simulator, clock, synced, key, status="Done")

    assert about(await signals(client, read_headers), key, "overdue_item") == []
    one = (await client.get(f"/v1/risks/{risk['id']}", headers=read_headers)).json()
    assert one["source_signal_active"] is False
    history = (await client.get(f"/v1/risks/{risk['id']}/history", headers=read_headers)).json()
    assert [(c["action"], c["changed_by"]) for c in history["data"]] == [("promoted", "lead")]


async def test_blocked_and_unassigned_work_in_jira_becomes_signals(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    sync_env: SyncEnvironment,
    simulator: JiraSimulator,
    clock: FakeClock,
    synced: int,
) -> None:
    blocked = quiet_issue(simulator)
    unassigned = quiet_issue(simulator, skip=(blocked,))
    await change_in_tool(sync_env, simulator, clock, synced, blocked, status="Blocked")
    await change_in_tool(
        sync_env,
        simulator,
        clock,
        synced,
        unassigned,
        duedate=TODAY + timedelta(days=2),
        assignee_email="",
    )

    rows = await signals(client, read_headers)

    (flagged,) = about(rows, blocked, "blocked_item")
    assert flagged["reason"] == 'the tool shows it blocked (status "Blocked")'
    (nobody,) = about(rows, unassigned, "unassigned_due_soon")
    assert nobody["reason"] == "due 2026-11-22 (in 2 days) and nobody is assigned"


async def test_a_failing_connection_shows_as_stale_data(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    simulator: JiraSimulator,
    sync_env: SyncEnvironment,
    clock: FakeClock,
    synced: int,
) -> None:
    clock.advance(25 * HOUR)
    simulator.fail_next(503, count=20)
    summary = await run_sync(sync_env, synced, SyncKind.INCREMENTAL)
    assert summary.status.value == "failed"

    rows = await signals(client, read_headers, f"kind=data_stale&connection={synced}")

    (stale,) = rows
    assert stale["reason"].startswith("last synced successfully 25 h ago, more than the 24 h")
    assert "the connection is failing" in stale["reason"]
    csv_text = (
        await client.get("/v1/risks/signals?kind=data_stale&format=csv", headers=read_headers)
    ).text
    assert csv_text.splitlines()[1].startswith(f"data_stale:connection:{synced},data_stale,")
