"""The sync engine against the Worktile simulator: full, incremental, census, replay, resume,
token expiry in both forms, HTML 429s, and every failure leaving stored data intact."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Receive, Scope, Send

from sandbox.worktile import WorktileSimulator
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import ConnectionState, Resource, SyncKind, SyncStatus
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.runs import load_cursor
from tests.builders import make_environment
from tests.builders_worktile import make_worktile_connection, make_worktile_simulator
from tests.fakes import FakeClock, FakeSleep

ITEMS = 250


@pytest.fixture
def simulator() -> WorktileSimulator:
    return make_worktile_simulator(items=ITEMS)


@pytest.fixture
def env(
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    simulator: WorktileSimulator,
) -> SyncEnvironment:
    return make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=simulator.app)


def count(env: SyncEnvironment, model: type[t.Base], *conditions: ColumnElement[bool]) -> int:
    with env.sessions() as session:
        value = session.scalar(select(func.count()).select_from(model).where(*conditions))
        return value or 0


def item(env: SyncEnvironment, vendor_id: str) -> t.WorkItem:
    with env.sessions() as session:
        return session.scalars(select(t.WorkItem).where(t.WorkItem.vendor_id == vendor_id)).one()


def live(env: SyncEnvironment) -> set[str]:
    with env.sessions() as session:
        return set(
            session.scalars(
                select(t.WorkItem.vendor_id).where(
                    t.WorkItem.deleted_at.is_(None), t.WorkItem.access_lost_at.is_(None)
                )
            )
        )


def connection(env: SyncEnvironment, connection_id: int) -> t.Connection:
    with env.sessions() as session:
        return session.get_one(t.Connection, connection_id)


def tasks_of(simulator: WorktileSimulator, identifier: str) -> list[str]:
    project = simulator.project_by_identifier(identifier)
    return [i for i in simulator.work_item_ids() if simulator.tasks[i].project_id == project.id]


async def test_a_full_sync_stores_every_project_milestone_and_task(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    connection_id = make_worktile_connection(env)
    summary = await run_sync(env, connection_id, SyncKind.FULL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert live(env) == set(simulator.work_item_ids())
    assert count(env, t.WorkItem) == ITEMS
    assert count(env, t.Project) == len(simulator.projects)
    assert count(env, t.Milestone) == len(simulator.milestone_ids())
    reached = [i for i in simulator.milestone_ids() if simulator.tasks[i].state.type == 3]
    assert count(env, t.Milestone, t.Milestone.reached.is_(True)) == len(reached) > 0
    assert count(env, t.WorkItem, t.WorkItem.project_id.is_(None)) == 0
    assert count(env, t.Milestone, t.Milestone.project_id.is_(None)) == 0
    # The token request goes through the auth flow, not the client's request count.
    assert summary.requests == simulator.request_count - simulator.token_requests
    assert simulator.token_requests == 1
    with env.sessions() as session:
        run = session.get_one(t.SyncRun, summary.run_id)
        assert (run.status, run.stored_count) == ("succeeded", ITEMS)
        names = set(session.scalars(select(t.PersonIdentity.display_name)))
    assert names <= {m.display_name for m in simulator.members}
    assert any(any("\u4e00" <= c <= "\u9fff" for c in n or "") for n in names)


async def test_a_run_lists_each_projects_tasks_once(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    summary = await run_sync(env, make_worktile_connection(env), SyncKind.FULL)
    pages = sum(
        -(-sum(1 for task in simulator.tasks.values() if task.project_id == p) // 100)
        for p in simulator.projects
    )
    # Members, projects, then each project's task pages once (the milestone pass's).
    assert summary.requests == 1 + 1 + pages
    assert live(env) == set(simulator.work_item_ids())


async def test_status_categories_follow_the_state_type_and_closed_is_cancelled(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    await run_sync(env, make_worktile_connection(env), SyncKind.FULL)
    with env.sessions() as session:
        rows = session.execute(select(t.WorkItem.status_name, t.WorkItem.status_category)).all()
    categories: dict[str | None, str] = {row.status_name: row.status_category for row in rows}
    assert categories["已完成"] == categories["Done"] == "done"
    assert categories["关闭"] == categories["Closed"] == "cancelled"
    assert categories["进行中"] == categories["In Review"] == "in_progress"
    assert categories["未开始"] == categories["To Do"] == "todo"


async def test_replaying_a_sync_writes_nothing(env: SyncEnvironment, clock: FakeClock) -> None:
    connection_id = make_worktile_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    changes = count(env, t.ItemChange)
    clock.advance(3600)

    summary = await run_sync(env, connection_id, SyncKind.FULL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert summary.upserted == 0
    assert summary.unchanged == summary.fetched
    assert count(env, t.ItemChange) == changes


async def test_incremental_sync_yields_only_what_moved_past_the_watermark(
    env: SyncEnvironment, simulator: WorktileSimulator, clock: FakeClock
) -> None:
    connection_id = make_worktile_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    simulator.advance(86_400)
    todo = next(i for i in simulator.work_item_ids() if simulator.tasks[i].state.type == 1)
    project = simulator.projects[simulator.tasks[todo].project_id]
    done = next(s.name for s in project.states if s.type == 3 and s.name in ("已完成", "Done"))
    simulator.update_task(todo, state=done, due=date(2026, 12, 24))
    new_id = simulator.add_task("ENB", title="准备 Q1 新人训练营讲义")
    clock.advance(86_400)

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    # Every page was read (no updated-since filter), but few tasks were handed on.
    assert summary.fetched < 30 + len(simulator.projects)
    updated = item(env, todo)
    assert (updated.status_category, updated.due_date) == ("done", date(2026, 12, 24))
    assert updated.completed_at is not None
    assert item(env, new_id).title == "准备 Q1 新人训练营讲义"
    with env.sessions() as session:
        rows = session.execute(
            select(t.ItemChange.field, t.ItemChange.old_value, t.ItemChange.new_value).where(
                t.ItemChange.work_item_id == updated.id,
                t.ItemChange.sync_run_id == summary.run_id,
            )
        ).all()
    history = {field: (old, new) for field, old, new in rows}
    assert history["status_category"] == ("todo", "done")
    assert history["due_date"][1] == "2026-12-24"


async def test_an_incremental_run_over_an_unchanged_tenant_hands_on_nothing(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    connection_id = make_worktile_connection(env, options={"overlap_seconds": 0})
    await run_sync(env, connection_id, SyncKind.FULL)
    with env.sessions() as session:
        cursor = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    assert cursor is not None
    assert set(cursor["updated_at"]) == set(simulator.projects)

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    # Only the projects page, plus the newest task of each project (>= its watermark).
    assert summary.fetched <= len(simulator.projects) * 3
    assert summary.upserted == 0


async def test_census_tombstones_deleted_tasks_and_separates_lost_access(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    connection_id = make_worktile_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    victim = tasks_of(simulator, "ENB")[1]
    boot = tasks_of(simulator, "BOOT")
    simulator.delete_task(victim)
    simulator.hide_project("BOOT")

    summary = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert (summary.deleted, summary.access_lost) == (1, len(boot))
    assert item(env, victim).deleted_at == env.clock()
    assert item(env, boot[0]).access_lost_at == env.clock()
    assert item(env, boot[0]).deleted_at is None  # a revoked permission is not a deletion
    assert live(env) == set(simulator.work_item_ids())


async def test_an_archived_task_stays_live_while_a_deleted_one_is_tombstoned(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    connection_id = make_worktile_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    archived, deleted = tasks_of(simulator, "CERT")[2:4]
    simulator.advance(600)
    simulator.archive_task(archived)
    simulator.delete_task(deleted)

    incremental = await run_sync(env, connection_id, SyncKind.INCREMENTAL)
    census = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert incremental.status is census.status is SyncStatus.SUCCEEDED
    assert census.deleted == 1
    kept = item(env, archived)
    assert kept.deleted_at is None
    assert json.loads(kept.raw)["is_archived"] == 1
    assert item(env, deleted).deleted_at is not None


async def test_a_scope_entry_the_app_cannot_see_is_lost_access_not_deletion(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    connection_id = make_worktile_connection(env, scope=("ENB", "CERT"))
    await run_sync(env, connection_id, SyncKind.FULL)
    cert = tasks_of(simulator, "CERT")
    assert count(env, t.WorkItem) == len(tasks_of(simulator, "ENB")) + len(cert)
    simulator.hide_project("CERT")

    summary = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert (summary.deleted, summary.access_lost) == (0, len(cert))


@pytest.mark.parametrize("status", [200, 401], ids=["200 ok:false 1103", "HTTP 401"])
async def test_a_token_expiring_mid_sync_is_renewed_and_the_run_succeeds(
    env: SyncEnvironment,
    simulator: WorktileSimulator,
    clock: FakeClock,
    sleep: FakeSleep,
    status: int,
) -> None:
    connection_id = make_worktile_connection(env)
    calls = {"tasks": 0}
    real_app = simulator.app

    async def expiring(scope: Scope, receive: Receive, send: Send) -> None:
        if "get-project-tasks" in scope.get("path", ""):
            calls["tasks"] += 1
            if calls["tasks"] == 3:
                simulator.expire_tokens(status=status)
        await real_app(scope, receive, send)

    summary = await run_sync(
        make_environment(
            sessions=env.sessions, box=env.box, clock=clock, sleep=sleep, app=expiring
        ),
        connection_id,
        SyncKind.FULL,
    )

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert simulator.token_requests == 2
    assert live(env) == set(simulator.work_item_ids())
    assert sleep.calls == []


async def test_html_429s_are_waited_out_through_the_injected_sleep(
    env: SyncEnvironment, simulator: WorktileSimulator, sleep: FakeSleep
) -> None:
    connection_id = make_worktile_connection(env)
    simulator.fail_next(429, count=2, path_contains="get-project-tasks")
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert len(sleep.calls) == 2  # exponential backoff: Worktile sends no Retry-After


async def test_429s_longer_than_the_retry_budget_throttle_the_connection(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    connection_id = make_worktile_connection(env)
    simulator.fail_next(429, count=10, path_contains="get-projects")
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.errors[0]["type"] == "RateLimited"
    assert connection(env, connection_id).state == ConnectionState.THROTTLED


async def test_rejected_credentials_need_a_person_to_reconnect(env: SyncEnvironment) -> None:
    connection_id = make_worktile_connection(
        env, credentials={"client_id": "wt-demo-client", "client_secret": "rotated"}
    )
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.FAILED
    assert summary.errors[0]["type"] == "CredentialsRejected"
    assert "rotated" not in json.dumps(summary.errors)
    assert connection(env, connection_id).state == ConnectionState.NEEDS_REAUTH


async def test_a_malformed_page_stores_nothing_and_keeps_the_cursor(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    connection_id = make_worktile_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    with env.sessions() as session:
        before = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    target = tasks_of(simulator, "ENB")[0]
    simulator.advance(3600)
    simulator.update_task(target, title="Changed while the page breaks")
    simulator.corrupt_next_page()

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.FAILED
    assert summary.errors[0]["type"] == "ContractBroken"
    assert item(env, target).title != "Changed while the page breaks"
    with env.sessions() as session:
        assert load_cursor(session, connection_id, Resource.WORK_ITEMS) == before


async def test_a_repeated_page_fails_the_run_instead_of_looping(
    env: SyncEnvironment, simulator: WorktileSimulator
) -> None:
    connection_id = make_worktile_connection(env, options={"page_size": 20})
    simulator.repeat_next_page()
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.FAILED
    assert summary.errors[0]["type"] == "ContractBroken"
    assert "same page twice" in summary.errors[0]["message"]


async def test_an_interrupted_sync_resumes_from_the_last_committed_page(
    env: SyncEnvironment, simulator: WorktileSimulator, clock: FakeClock, sleep: FakeSleep
) -> None:
    # Without reusing the milestone pass's pages, so the work-item pass makes requests.
    connection_id = make_worktile_connection(env, options={"page_size": 20, "scan_reuse_bytes": 0})
    first_project = next(iter(simulator.projects))
    calls = {"tasks": 0}
    real_app = simulator.app

    def pages_of(project_id: str) -> int:
        tasks = sum(1 for task in simulator.tasks.values() if task.project_id == project_id)
        return -(-tasks // 20)

    # The milestone pass reads every project; the work-item pass then gets through the first
    # project and one page of the second before every tasks request fails for longer than the
    # retries last.
    budget = sum(pages_of(p) for p in simulator.projects) + pages_of(first_project) + 1

    async def flaky(scope: Scope, receive: Receive, send: Send) -> None:
        if "get-project-tasks" in scope.get("path", ""):
            calls["tasks"] += 1
            if calls["tasks"] > budget:
                simulator.fail_next(503, count=1)
        await real_app(scope, receive, send)

    interrupted = make_environment(
        sessions=env.sessions, box=env.box, clock=clock, sleep=sleep, app=flaky
    )
    first = await run_sync(interrupted, connection_id, SyncKind.FULL)

    assert first.status is SyncStatus.FAILED
    assert first.errors[0]["type"] == "VendorUnavailable"
    stored = count(env, t.WorkItem)
    assert 0 < stored < ITEMS
    with env.sessions() as session:
        cursor = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    assert cursor is not None
    assert list(cursor["updated_at"]) == [first_project]  # only the project read to its end

    second = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert second.status is SyncStatus.SUCCEEDED, second.errors
    assert live(env) == set(simulator.work_item_ids())
    assert connection(env, connection_id).state == ConnectionState.ACTIVE
