"""The sync engine against the Asana simulator: full, incremental, census, replay, resume, and
every failure leaving stored data intact and the connection saying what to do next."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Receive, Scope, Send

from sandbox.asana import AsanaSimulator
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import ConnectionState, Resource, SyncKind, SyncStatus
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.runs import load_cursor
from tests.builders import make_environment
from tests.builders_asana import make_asana_connection, make_asana_simulator
from tests.fakes import FakeClock, FakeSleep


@pytest.fixture
def simulator() -> AsanaSimulator:
    return make_asana_simulator(items=250)


@pytest.fixture
def env(
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    simulator: AsanaSimulator,
) -> SyncEnvironment:
    return make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=simulator.app)


def count(env: SyncEnvironment, model: type[t.Base], *conditions: ColumnElement[bool]) -> int:
    with env.sessions() as session:
        value = session.scalar(select(func.count()).select_from(model).where(*conditions))
        return value or 0


def item(env: SyncEnvironment, gid: str) -> t.WorkItem:
    with env.sessions() as session:
        return session.scalars(select(t.WorkItem).where(t.WorkItem.vendor_id == gid)).one()


def live(env: SyncEnvironment) -> set[str]:
    with env.sessions() as session:
        return set(
            session.scalars(
                select(t.WorkItem.vendor_id).where(
                    t.WorkItem.deleted_at.is_(None), t.WorkItem.access_lost_at.is_(None)
                )
            )
        )


def items_of(env: SyncEnvironment, project_gid: str) -> set[str]:
    """Stored, live work items synced under one project."""
    with env.sessions() as session:
        return set(
            session.scalars(
                select(t.WorkItem.vendor_id)
                .join(t.Project, t.WorkItem.project_id == t.Project.id)
                .where(
                    t.Project.vendor_id == project_gid,
                    t.WorkItem.deleted_at.is_(None),
                    t.WorkItem.access_lost_at.is_(None),
                )
            )
        )


def descendants(sim: AsanaSimulator, gid: str) -> list[str]:
    """A task and its subtasks, theirs too: what deleting it deletes."""
    found = [gid]
    for child in sim.tasks[gid].subtasks:
        found.extend(descendants(sim, child))
    return found


def connection(env: SyncEnvironment, connection_id: int) -> t.Connection:
    with env.sessions() as session:
        return session.get_one(t.Connection, connection_id)


def top_level(sim: AsanaSimulator, project_name: str, *, with_subtasks: bool = False) -> str:
    project = sim.project_named(project_name).gid
    return next(
        g
        for g in sim.project_task_gids(project)
        if sim.tasks[g].resource_subtype == "default_task"
        and len(sim.tasks[g].memberships) == 1
        and bool(sim.tasks[g].subtasks) is with_subtasks
        and not sim.tasks[g].completed
    )


async def test_a_full_sync_stores_projects_milestones_tasks_and_subtasks(
    env: SyncEnvironment, simulator: AsanaSimulator
) -> None:
    connection_id = make_asana_connection(env, simulator)
    summary = await run_sync(env, connection_id, SyncKind.FULL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert live(env) == set(simulator.work_item_gids())
    assert count(env, t.WorkItem) == 250
    assert count(env, t.Project) == 3
    assert count(env, t.Milestone) == len(simulator.milestone_gids())
    assert count(env, t.Milestone, t.Milestone.project_id.is_(None)) == 0
    # Every item, subtasks included, belongs to a project; subtasks name their parent.
    assert count(env, t.WorkItem, t.WorkItem.project_id.is_(None)) == 0
    subtasks = [g for g in simulator.work_item_gids() if simulator.tasks[g].parent]
    assert subtasks
    assert count(env, t.WorkItem, t.WorkItem.parent_vendor_id.is_not(None)) == len(subtasks)
    assert count(env, t.WorkItem, t.WorkItem.estimate.is_not(None)) > 0
    assert count(env, t.WorkItem, t.WorkItem.status_category == "in_progress") > 0
    assert summary.requests == simulator.request_count
    with env.sessions() as session:
        run = session.get_one(t.SyncRun, summary.run_id)
        assert (run.status, run.stored_count) == ("succeeded", 250)
        cursor = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    assert cursor is not None
    assert set(cursor["projects"]) == set(simulator.projects)
    assert connection(env, connection_id).last_success_at == env.clock()


async def test_people_are_merged_by_their_lower_cased_email(
    env: SyncEnvironment, simulator: AsanaSimulator
) -> None:
    await run_sync(env, make_asana_connection(env, simulator), SyncKind.FULL)
    with env.sessions() as session:
        emails = set(session.scalars(select(t.Person.email)))
    assigned = (simulator.tasks[g].assignee for g in simulator.work_item_gids())
    assert emails == {user.email for user in assigned if user is not None}
    assert all(e is not None and e == e.lower() for e in emails)


async def test_replaying_a_sync_writes_nothing(
    env: SyncEnvironment, simulator: AsanaSimulator, clock: FakeClock
) -> None:
    connection_id = make_asana_connection(env, simulator)
    await run_sync(env, connection_id, SyncKind.FULL)
    changes = count(env, t.ItemChange)
    clock.advance(3600)

    summary = await run_sync(env, connection_id, SyncKind.FULL)

    assert summary.upserted == 0
    assert summary.unchanged == summary.fetched
    assert count(env, t.ItemChange) == changes


async def test_incremental_sync_fetches_only_what_changed_and_keeps_history(
    env: SyncEnvironment, simulator: AsanaSimulator, clock: FakeClock
) -> None:
    connection_id = make_asana_connection(env, simulator)
    await run_sync(env, connection_id, SyncKind.FULL)
    simulator.advance(86_400)
    completed = top_level(simulator, "CRM Migration")
    moved = top_level(simulator, "Sales Kickoff 2027")
    parent = top_level(simulator, "CRM Migration", with_subtasks=True)
    subtask = simulator.tasks[parent].subtasks[0]
    # 21 points: the generator only deals 1-13, so this is a change whatever the task had.
    simulator.update_task(completed, completed=True, story_points=21, due_on=date(2026, 12, 24))
    # A move between sections leaves modified_at alone; modified_since still sees it.
    simulator.move_task(moved, "In progress")
    # A subtask's change does not touch its parent: the sweep of known parents finds it.
    simulator.update_task(subtask, name="Subtask renamed")
    new = simulator.add_task(
        simulator.project_named("CRM Migration").gid, name="Freeze legacy CRM", story_points=2
    )
    clock.advance(86_400)

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert summary.fetched < 60
    done = item(env, completed)
    assert (done.status_category, done.estimate, done.due_date) == (
        "done",
        21.0,
        date(2026, 12, 24),
    )
    assert done.completed_at is not None
    assert (item(env, moved).status_name, item(env, moved).status_category) == (
        "In progress",
        "in_progress",
    )
    assert item(env, subtask).title == "Subtask renamed"
    assert (item(env, new).title, item(env, new).estimate) == ("Freeze legacy CRM", 2.0)
    with env.sessions() as session:
        rows = session.execute(
            select(t.ItemChange.field, t.ItemChange.old_value, t.ItemChange.new_value).where(
                t.ItemChange.work_item_id == done.id,
                t.ItemChange.sync_run_id == summary.run_id,
            )
        ).all()
    history = {field: (old, new) for field, old, new in rows}
    assert history["status_category"][1] == "done"
    assert history["estimate"][1] == "21.0"
    assert history["due_date"][1] == "2026-12-24"


async def test_an_incremental_run_with_no_changes_writes_nothing(
    env: SyncEnvironment, simulator: AsanaSimulator
) -> None:
    connection_id = make_asana_connection(env, simulator)
    await run_sync(env, connection_id, SyncKind.FULL)
    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)
    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert summary.upserted == 0


async def test_milestones_follow_their_tasks_and_a_task_turned_milestone_stops_being_work(
    env: SyncEnvironment, simulator: AsanaSimulator
) -> None:
    connection_id = make_asana_connection(env, simulator)
    await run_sync(env, connection_id, SyncKind.FULL)
    simulator.advance(3600)
    crm = simulator.project_named("CRM Migration").gid
    go_live = simulator.add_task(crm, name="Go-live", milestone=True, due_on=date(2027, 1, 4))
    reached = simulator.milestone_gids()[0]
    simulator.update_task(reached, completed=True)
    converted = top_level(simulator, "Sales Kickoff 2027")
    simulator.tasks[converted].resource_subtype = "milestone"
    simulator.update_task(converted, name="Agenda published")

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    with env.sessions() as session:
        milestones = {m.vendor_id: m for m in session.scalars(select(t.Milestone))}
    assert (milestones[go_live].name, milestones[go_live].due_date) == ("Go-live", date(2027, 1, 4))
    assert milestones[reached].reached is True
    assert milestones[reached].reached_at is not None
    assert milestones[converted].name == "Agenda published"
    assert item(env, converted).deleted_at is not None
    assert summary.deleted == 1


async def test_census_tombstones_deletions_and_separates_lost_access_from_archiving(
    env: SyncEnvironment, simulator: AsanaSimulator
) -> None:
    connection_id = make_asana_connection(env, simulator)
    await run_sync(env, connection_id, SyncKind.FULL)
    parent = top_level(simulator, "CRM Migration", with_subtasks=True)
    doomed = descendants(simulator, parent)
    simulator.delete_task(parent)
    sko = simulator.project_named("Sales Kickoff 2027")
    simulator.hide_project(sko.gid)
    quote = simulator.project_named("Quote-to-Cash Revamp")
    simulator.archive_project(quote.gid)
    sko_items = sorted(items_of(env, sko.gid))
    quote_items = items_of(env, quote.gid)

    summary = await run_sync(env, connection_id, SyncKind.CENSUS)
    await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert summary.deleted == len(doomed)
    assert summary.access_lost == len(sko_items)
    for gid in doomed:
        assert item(env, gid).deleted_at == env.clock()
    lost = item(env, sko_items[0])
    assert (lost.access_lost_at, lost.deleted_at) == (env.clock(), None)
    # Archiving is no deletion: the project says so and its tasks stay live.
    with env.sessions() as session:
        archived = session.scalars(select(t.Project).where(t.Project.vendor_id == quote.gid)).one()
    assert (archived.archived, archived.access_lost_at) == (True, None)
    assert quote_items
    assert items_of(env, quote.gid) == quote_items
    with env.sessions() as session:
        lifecycle = set(
            session.scalars(select(t.ItemChange.new_value).where(t.ItemChange.field == "lifecycle"))
        )
    assert lifecycle == {"access_lost", "deleted"}


async def test_a_scoped_project_that_disappears_is_lost_access_not_deletion(
    env: SyncEnvironment, simulator: AsanaSimulator
) -> None:
    crm = simulator.project_named("CRM Migration").gid
    sko = simulator.project_named("Sales Kickoff 2027").gid
    connection_id = make_asana_connection(env, simulator, scope=(crm, sko))
    await run_sync(env, connection_id, SyncKind.FULL)
    simulator.hide_project(sko)

    incremental = await run_sync(env, connection_id, SyncKind.INCREMENTAL)
    census = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert incremental.status is SyncStatus.SUCCEEDED, incremental.errors
    assert census.status is SyncStatus.SUCCEEDED, census.errors
    assert census.deleted == 0
    assert census.access_lost > 0
    assert count(env, t.WorkItem, t.WorkItem.deleted_at.is_not(None)) == 0
    with env.sessions() as session:
        project = session.scalars(select(t.Project).where(t.Project.vendor_id == sko)).one()
    assert project.access_lost_at == env.clock()


async def test_an_interrupted_sync_resumes_from_the_last_finished_project(
    env: SyncEnvironment, simulator: AsanaSimulator, clock: FakeClock, sleep: FakeSleep
) -> None:
    connection_id = make_asana_connection(env, simulator)
    first_project, second_project = list(simulator.projects)[:2]
    # Let everything through until the work-item pass reaches the second project's tasks.
    calls = {"second": 0}
    real_app = simulator.app

    async def flaky(scope: Scope, receive: Receive, send: Send) -> None:
        if f"/projects/{second_project}/tasks" in scope.get("path", ""):
            calls["second"] += 1
            if calls["second"] > 1:  # its milestone pass went through; its task pass fails
                simulator.fail_next(503, count=1)
        await real_app(scope, receive, send)

    interrupted = make_environment(
        sessions=env.sessions, box=env.box, clock=clock, sleep=sleep, app=flaky
    )
    first = await run_sync(interrupted, connection_id, SyncKind.FULL)

    assert first.status is SyncStatus.FAILED
    assert first.errors[0]["type"] == "VendorUnavailable"
    stored = live(env)
    assert stored
    assert items_of(env, first_project) == stored  # nothing of the failed project
    with env.sessions() as session:
        cursor = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    assert cursor is not None
    assert set(cursor["projects"]) == {first_project}
    assert connection(env, connection_id).state == ConnectionState.FAILING

    second = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert second.status is SyncStatus.SUCCEEDED, second.errors
    assert live(env) == set(simulator.work_item_gids())
    assert connection(env, connection_id).state == ConnectionState.ACTIVE


async def test_a_malformed_page_stores_nothing_and_keeps_the_cursor(
    env: SyncEnvironment, simulator: AsanaSimulator, clock: FakeClock, sleep: FakeSleep
) -> None:
    connection_id = make_asana_connection(env, simulator)
    await run_sync(env, connection_id, SyncKind.FULL)
    with env.sessions() as session:
        before = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    simulator.advance(3600)
    target = top_level(simulator, "CRM Migration")
    simulator.update_task(target, name="Changed while the page breaks")
    # The milestone pass lists each project's changed tasks first (three requests); break the
    # work-item pass's first page.
    real_app = simulator.app
    seen = {"tasks": 0}

    async def corrupt_work_items(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope.get("path", "").endswith("/tasks")
            and "modified_since" in scope.get("query_string", b"").decode()
        ):
            seen["tasks"] += 1
            if seen["tasks"] == 4:  # the first project's work-item listing
                simulator.corrupt_next_task_page()
        await real_app(scope, receive, send)

    broken_env = make_environment(
        sessions=env.sessions, box=env.box, clock=clock, sleep=sleep, app=corrupt_work_items
    )
    summary = await run_sync(broken_env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.FAILED
    error = summary.errors[0]
    assert error["type"] == "ContractBroken"
    assert error["endpoint"] == "GET /tasks"
    assert item(env, target).title != "Changed while the page breaks"
    with env.sessions() as session:
        assert load_cursor(session, connection_id, Resource.WORK_ITEMS) == before
    state = connection(env, connection_id)
    assert state.state == ConnectionState.FAILING
    assert "failed validation" in (state.state_reason or "")


async def test_rejected_credentials_need_a_person_to_reconnect(
    env: SyncEnvironment, simulator: AsanaSimulator
) -> None:
    connection_id = make_asana_connection(env, simulator, credentials={"access_token": "revoked"})
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.FAILED
    assert summary.errors[0]["type"] == "CredentialsRejected"
    assert connection(env, connection_id).state == ConnectionState.NEEDS_REAUTH


async def test_a_429_longer_than_the_retry_budget_throttles_the_connection(
    env: SyncEnvironment, simulator: AsanaSimulator, clock: FakeClock
) -> None:
    connection_id = make_asana_connection(env, simulator)
    simulator.fail_next(429, count=1, retry_after="900")
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    state = connection(env, connection_id)
    assert summary.errors[0]["type"] == "RateLimited"
    assert state.state == ConnectionState.THROTTLED
    assert state.throttled_until == datetime.fromtimestamp(clock.now.timestamp() + 900, UTC)


async def test_a_short_429_is_waited_out_through_the_injected_sleep(
    env: SyncEnvironment, simulator: AsanaSimulator, sleep: FakeSleep
) -> None:
    connection_id = make_asana_connection(env, simulator)
    simulator.fail_next(429, count=2, retry_after="3", path_contains="/subtasks")
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert sleep.calls.count(3.0) == 2


async def test_the_free_plans_budget_paces_and_a_paid_plans_option_lifts_it(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    big = make_asana_simulator(items=1500)
    env = make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=big.app)
    free = await run_sync(env, make_asana_connection(env, big, name="free"), SyncKind.FULL)
    assert free.status is SyncStatus.SUCCEEDED, free.errors
    assert free.requests > 150
    assert sleep.total >= 60.0  # more than a minute's worth of requests: paced
    sleep.calls.clear()

    paid_option = {"rate_limit": {"requests": 1500, "per_seconds": 60}}
    paid = await run_sync(
        env, make_asana_connection(env, big, name="paid", options=paid_option), SyncKind.FULL
    )
    assert paid.status is SyncStatus.SUCCEEDED, paid.errors
    assert paid.requests < 1500
    assert sleep.calls == []
