"""The sync engine against the Jira simulator: full, incremental, census, replay, resume,
and every failure leaving stored data intact and the connection saying what to do next."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Receive, Scope, Send

from sandbox.jira import JiraSimulator
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import ConnectionState, Resource, SyncKind, SyncStatus
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.runs import load_cursor
from tests.builders import make_environment, make_jira_connection, make_jira_simulator
from tests.fakes import FakeClock, FakeSleep


@pytest.fixture
def simulator() -> JiraSimulator:
    return make_jira_simulator(issues=250)


@pytest.fixture
def env(
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    simulator: JiraSimulator,
) -> SyncEnvironment:
    return make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=simulator.app)


def count(env: SyncEnvironment, model: type[t.Base], *conditions: ColumnElement[bool]) -> int:
    with env.sessions() as session:
        value = session.scalar(select(func.count()).select_from(model).where(*conditions))
        return value or 0


def item(env: SyncEnvironment, key: str) -> t.WorkItem:
    with env.sessions() as session:
        return session.scalars(select(t.WorkItem).where(t.WorkItem.key == key)).one()


def connection(env: SyncEnvironment, connection_id: int) -> t.Connection:
    with env.sessions() as session:
        return session.get_one(t.Connection, connection_id)


async def test_a_full_sync_stores_every_project_version_and_issue(
    env: SyncEnvironment, simulator: JiraSimulator
) -> None:
    connection_id = make_jira_connection(env)
    summary = await run_sync(env, connection_id, SyncKind.FULL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert count(env, t.WorkItem) == simulator.issue_count() == 250
    assert count(env, t.Project) == len(simulator.projects)
    assert count(env, t.Milestone) == len(simulator.versions)
    assert count(env, t.WorkItem, t.WorkItem.project_id.is_(None)) == 0
    assert count(env, t.WorkItem, t.WorkItem.estimate.is_not(None)) > 0
    # Three pages of issues at 100 a page, plus projects, versions, /myself and /field.
    assert summary.requests == simulator.request_count
    assert summary.fetched == 250 + len(simulator.projects) + len(simulator.versions)
    with env.sessions() as session:
        run = session.get_one(t.SyncRun, summary.run_id)
        assert (run.status, run.pages, run.stored_count) == ("succeeded", summary.pages, 250)
    assert connection(env, connection_id).last_success_at == env.clock()


async def test_people_are_merged_by_email_and_first_states_are_history(
    env: SyncEnvironment,
) -> None:
    connection_id = make_jira_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    with env.sessions() as session:
        people = session.scalar(select(func.count()).select_from(t.Person))
        identities = session.scalar(select(func.count()).select_from(t.PersonIdentity))
        first_states = session.scalar(
            select(func.count())
            .select_from(t.ItemChange)
            .where(t.ItemChange.field == "status_category", t.ItemChange.old_value.is_(None))
        )
    assert people == identities
    assert people is not None
    assert 0 < people <= 10
    assert first_states == 250


async def test_replaying_a_sync_writes_nothing(env: SyncEnvironment, clock: FakeClock) -> None:
    connection_id = make_jira_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    before = item(env, "CRM-1").recorded_at
    changes = count(env, t.ItemChange)
    clock.advance(3600)

    summary = await run_sync(env, connection_id, SyncKind.FULL)

    assert summary.upserted == 0
    assert summary.unchanged == summary.fetched
    assert item(env, "CRM-1").recorded_at == before
    assert count(env, t.ItemChange) == changes


async def test_incremental_sync_fetches_only_what_changed_and_keeps_history(
    env: SyncEnvironment, simulator: JiraSimulator, clock: FakeClock
) -> None:
    connection_id = make_jira_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    simulator.advance(86_400)
    key = next(i.key for i in simulator.issues.values() if i.status == "To Do")
    # 21 points: the generator only deals 1-13, so this is a change whatever the item had.
    simulator.update_issue(key, status="Done", story_points=21, duedate=date(2026, 12, 24))
    new_key = simulator.add_issue("CRM", summary="Prepare QBR deck for DACH")
    clock.advance(86_400)

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert summary.fetched < 30 + len(simulator.projects) + len(simulator.versions)
    updated = item(env, key)
    assert (updated.status_category, updated.estimate, updated.due_date) == (
        "done",
        21.0,
        date(2026, 12, 24),
    )
    assert item(env, new_key).title == "Prepare QBR deck for DACH"
    with env.sessions() as session:
        rows = session.execute(
            select(t.ItemChange.field, t.ItemChange.old_value, t.ItemChange.new_value).where(
                t.ItemChange.work_item_id == updated.id,
                t.ItemChange.sync_run_id == summary.run_id,
            )
        ).all()
    history = {field: (old, new) for field, old, new in rows}
    assert history["status_category"] == ("todo", "done")
    assert history["estimate"][1] == "21.0"
    assert history["due_date"][1] == "2026-12-24"


async def test_census_tombstones_deleted_issues_and_separates_lost_access(
    env: SyncEnvironment, simulator: JiraSimulator
) -> None:
    connection_id = make_jira_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    simulator.delete_issue("CRM-2")
    simulator.hide_project("PIPE")
    pipe_items = count(env, t.WorkItem, t.WorkItem.key.like("PIPE-%"))

    summary = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert (summary.deleted, summary.access_lost) == (1, pipe_items)
    assert item(env, "CRM-2").deleted_at == env.clock()
    assert item(env, "PIPE-1").access_lost_at == env.clock()
    assert item(env, "PIPE-1").deleted_at is None  # a revoked permission is not a deletion
    assert item(env, "CRM-3").deleted_at is None
    with env.sessions() as session:
        lifecycle = session.scalars(
            select(t.ItemChange.new_value).where(t.ItemChange.field == "lifecycle")
        ).all()
    assert set(lifecycle) == {"access_lost", "deleted"}


async def test_an_interrupted_sync_resumes_from_the_last_committed_page(
    env: SyncEnvironment, simulator: JiraSimulator, clock: FakeClock, sleep: FakeSleep
) -> None:
    connection_id = make_jira_connection(env)
    # Let /myself, /field, projects, versions and the first search page through, then fail
    # every later search request for longer than the retries last.
    calls = {"search": 0}
    real_app = simulator.app

    async def flaky(scope: Scope, receive: Receive, send: Send) -> None:
        if "search/jql" in scope.get("path", ""):
            calls["search"] += 1
            if calls["search"] > 1:
                simulator.fail_next(503, count=1)
        await real_app(scope, receive, send)

    interrupted_env = make_environment(
        sessions=env.sessions,
        box=env.box,
        clock=clock,
        sleep=sleep,
        app=flaky,
    )
    first = await run_sync(interrupted_env, connection_id, SyncKind.FULL)

    assert first.status is SyncStatus.FAILED
    assert first.errors[0]["type"] == "VendorUnavailable"
    assert count(env, t.WorkItem) == 100  # the committed first page, nothing of the failed one
    with env.sessions() as session:
        cursor = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    assert cursor is not None
    assert connection(env, connection_id).state == ConnectionState.FAILING

    second = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert second.status is SyncStatus.SUCCEEDED, second.errors
    assert count(env, t.WorkItem) == 250
    assert connection(env, connection_id).state == ConnectionState.ACTIVE


async def test_a_malformed_page_stores_nothing_and_keeps_the_cursor(
    env: SyncEnvironment, simulator: JiraSimulator
) -> None:
    connection_id = make_jira_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    with env.sessions() as session:
        cursor_before = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    simulator.advance(3600)
    simulator.update_issue("CRM-1", summary="Changed while the page breaks")
    simulator.corrupt_next_search_page()

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.FAILED
    error = summary.errors[0]
    assert error["type"] == "ContractBroken"
    assert error["endpoint"] == "/rest/api/3/search/jql"
    assert item(env, "CRM-1").title != "Changed while the page breaks"
    with env.sessions() as session:
        assert load_cursor(session, connection_id, Resource.WORK_ITEMS) == cursor_before
    state = connection(env, connection_id)
    assert state.state == ConnectionState.FAILING
    assert "failed validation" in (state.state_reason or "")


async def test_rejected_credentials_need_a_person_to_reconnect(env: SyncEnvironment) -> None:
    connection_id = make_jira_connection(
        env, credentials={"email": "demo@example.com", "api_token": "revoked"}
    )
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.FAILED
    assert summary.errors[0]["type"] == "CredentialsRejected"
    assert connection(env, connection_id).state == ConnectionState.NEEDS_REAUTH


async def test_a_429_longer_than_the_retry_budget_throttles_the_connection(
    env: SyncEnvironment, simulator: JiraSimulator, clock: FakeClock
) -> None:
    connection_id = make_jira_connection(env)
    simulator.fail_next(429, count=1, retry_after="900")
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    state = connection(env, connection_id)
    assert summary.errors[0]["type"] == "RateLimited"
    assert state.state == ConnectionState.THROTTLED
    assert state.throttled_until == datetime.fromtimestamp(clock.now.timestamp() + 900, UTC)


async def test_a_short_429_is_waited_out_through_the_injected_sleep(
    env: SyncEnvironment, simulator: JiraSimulator, sleep: FakeSleep
) -> None:
    connection_id = make_jira_connection(env)
    simulator.fail_next(429, count=2, retry_after="3", path_contains="search/jql")
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert sleep.calls.count(3.0) == 2


async def test_a_connection_syncs_one_run_at_a_time(env: SyncEnvironment) -> None:
    from sync.engine.runner import prepare_run
    from sync.errors import Conflict

    connection_id = make_jira_connection(env)
    prepare_run(env, connection_id, SyncKind.FULL)
    with pytest.raises(Conflict, match="already syncing"):
        prepare_run(env, connection_id, SyncKind.INCREMENTAL)
