"""The sync engine against the PingCode simulator: full, incremental with tombstones, census,
archive versus delete, lost access, token expiry, throttling, and idempotent replays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Receive, Scope, Send

from sandbox.pingcode import PingCodeSimulator
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import ConnectionState, Resource, SyncKind, SyncStatus
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.runs import load_cursor
from tests.builders import make_environment
from tests.builders_pingcode import make_pingcode_connection, make_pingcode_simulator
from tests.fakes import FakeClock, FakeSleep


@pytest.fixture
def simulator() -> PingCodeSimulator:
    return make_pingcode_simulator(items=250)


@pytest.fixture
def env(
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    simulator: PingCodeSimulator,
) -> SyncEnvironment:
    return make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=simulator.app)


def count(env: SyncEnvironment, model: type[t.Base], *conditions: ColumnElement[bool]) -> int:
    with env.sessions() as session:
        value = session.scalar(select(func.count()).select_from(model).where(*conditions))
        return value or 0


def item(env: SyncEnvironment, vendor_id: str) -> t.WorkItem:
    with env.sessions() as session:
        return session.scalars(select(t.WorkItem).where(t.WorkItem.vendor_id == vendor_id)).one()


def live_ids(env: SyncEnvironment) -> set[str]:
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


def work_item_requests(simulator: PingCodeSimulator) -> list[dict[str, str]]:
    return [dict(r.params) for r in simulator.request_log if r.path == "/v1/project/work_items"]


async def test_a_full_sync_stores_projects_both_kinds_of_milestone_and_every_item(
    env: SyncEnvironment, simulator: PingCodeSimulator
) -> None:
    connection_id = make_pingcode_connection(env)
    summary = await run_sync(env, connection_id, SyncKind.FULL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert live_ids(env) == set(simulator.work_item_ids())
    assert count(env, t.WorkItem) == 250
    assert count(env, t.Project) == 3
    versions, milestone_items = len(simulator.versions), len(simulator.milestone_item_ids())
    assert count(env, t.Milestone) == versions + milestone_items
    assert count(env, t.Milestone, t.Milestone.vendor_id.like("version:%")) == versions
    assert count(env, t.WorkItem, t.WorkItem.project_id.is_(None)) == 0
    assert count(env, t.WorkItem, t.WorkItem.item_type == "milestone") == 0
    with_version = sum(1 for i in simulator.items.values() if i.version_id)
    assert count(env, t.WorkItem, t.WorkItem.milestone_id.is_not(None)) == with_version
    assert count(env, t.WorkItem, t.WorkItem.status_category == "cancelled") > 0
    assert count(env, t.WorkItem, t.WorkItem.estimate.is_not(None)) > 0
    # The token request travels inside one client call, so the client counts one less.
    assert summary.requests == simulator.request_count - simulator.token_requests
    assert simulator.token_requests == 1
    assert summary.fetched == 250 + 3 + versions + milestone_items
    with env.sessions() as session:
        run = session.get_one(t.SyncRun, summary.run_id)
        assert (run.status, run.stored_count) == ("succeeded", 250)
        cursor = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    newest = max(i.updated_at for i in simulator.items.values())
    assert cursor == {"since": newest}
    # Full syncs ask for soft-deleted and archived items too (FACTS.md §5.3).
    listing = work_item_requests(simulator)[-1]
    assert (listing["include_deleted"], listing["include_archived"]) == ("true", "true")
    assert "updated_between" not in listing


async def test_replaying_a_sync_writes_nothing(env: SyncEnvironment, clock: FakeClock) -> None:
    connection_id = make_pingcode_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    changes = count(env, t.ItemChange)
    clock.advance(3600)

    again = await run_sync(env, connection_id, SyncKind.FULL)
    incremental = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert again.status is SyncStatus.SUCCEEDED, again.errors
    assert (again.upserted, again.unchanged) == (0, again.fetched)
    assert incremental.upserted == 0
    assert count(env, t.ItemChange) == changes


async def test_incremental_sync_reads_changes_since_the_cursor_with_tombstones(
    env: SyncEnvironment, simulator: PingCodeSimulator
) -> None:
    connection_id = make_pingcode_connection(env, options={"overlap_seconds": 120})
    await run_sync(env, connection_id, SyncKind.FULL)
    with env.sessions() as session:
        since = (load_cursor(session, connection_id, Resource.WORK_ITEMS) or {})["since"]
    pending = [i for i in simulator.work_item_ids() if simulator.items[i].state.type == "pending"]
    changed, archived, deleted = pending[:3]
    simulator.advance(86_400)
    simulator.update_item(changed, title="报价审批流 v2", state="已完成", story_points=21)
    simulator.archive_item(archived)
    simulator.delete_item(deleted)
    added = simulator.add_item("CPQ", title="ERP 同步 quote-to-order", type="story")

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert work_item_requests(simulator)[-1]["updated_between"] == f"{since - 120},"
    assert summary.fetched < 30 + 3 + len(simulator.versions) + 5
    assert summary.deleted == 1
    updated = item(env, changed)
    assert (updated.title, updated.status_category, updated.estimate) == (
        "报价审批流 v2",
        "done",
        21.0,
    )
    assert item(env, added).title == "ERP 同步 quote-to-order"
    # Archive is not delete: the item stays live, its raw JSON says it is archived.
    kept = item(env, archived)
    assert (kept.deleted_at, json.loads(kept.raw)["is_archived"]) == (None, 1)
    assert item(env, deleted).deleted_at == env.clock()
    assert live_ids(env) == set(simulator.work_item_ids())
    with env.sessions() as session:
        rows = session.execute(
            select(t.ItemChange.field, t.ItemChange.new_value).where(
                t.ItemChange.sync_run_id == summary.run_id,
                t.ItemChange.work_item_id == item(env, deleted).id,
            )
        ).all()
    assert [tuple(row) for row in rows] == [("lifecycle", "deleted")]


async def test_census_catches_a_delete_that_left_updated_at_alone(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    quiet = make_pingcode_simulator(items=150, delete_touches_updated_at=False)
    env = make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=quiet.app)
    connection_id = make_pingcode_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    victim = quiet.work_item_ids()[7]
    quiet.advance(3600)
    quiet.delete_item(victim)

    incremental = await run_sync(env, connection_id, SyncKind.INCREMENTAL)
    assert (
        incremental.deleted == 0
    )  # UNVERIFIED vendor behaviour (FACTS.md §5.3): census is the net
    census = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert census.status is SyncStatus.SUCCEEDED, census.errors
    assert (census.deleted, census.access_lost) == (1, 0)
    assert item(env, victim).deleted_at == env.clock()
    assert live_ids(env) == set(quiet.work_item_ids())


async def test_census_separates_lost_access_from_deletion(
    env: SyncEnvironment, simulator: PingCodeSimulator
) -> None:
    connection_id = make_pingcode_connection(env, scope=("QT", "CPQ", "DSC"))
    await run_sync(env, connection_id, SyncKind.FULL)
    dsc = simulator.project("DSC")
    dsc_items = [i.id for i in simulator.visible_items() if i.project_id == dsc.id]
    victim = next(i for i in simulator.work_item_ids() if simulator.items[i].project_id != dsc.id)
    simulator.delete_item(victim)
    simulator.hide_project("DSC")

    summary = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert (summary.deleted, summary.access_lost) == (1, len(dsc_items))
    lost = item(env, dsc_items[0])
    assert (lost.access_lost_at, lost.deleted_at) == (env.clock(), None)
    assert item(env, victim).deleted_at == env.clock()


async def test_an_expired_token_is_refreshed_once_in_the_middle_of_a_run(
    env: SyncEnvironment, simulator: PingCodeSimulator, clock: FakeClock, sleep: FakeSleep
) -> None:
    connection_id = make_pingcode_connection(env)
    real_app = simulator.app
    seen = {"lists": 0}

    async def expiring(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") == "/v1/project/work_items":
            seen["lists"] += 1
            if seen["lists"] == 3:  # 30 days pass between two pages
                simulator.advance(timedelta(days=31).total_seconds())
        await real_app(scope, receive, send)

    expiring_env = make_environment(
        sessions=env.sessions, box=env.box, clock=clock, sleep=sleep, app=expiring
    )
    summary = await run_sync(expiring_env, connection_id, SyncKind.FULL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert simulator.token_requests == 2
    assert live_ids(env) == set(simulator.work_item_ids())


async def test_rejected_client_credentials_need_a_person_to_reconnect(
    env: SyncEnvironment, simulator: PingCodeSimulator
) -> None:
    connection_id = make_pingcode_connection(
        env, credentials={"client_id": "pmbridge-demo", "client_secret": "reset-yesterday"}
    )
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.FAILED
    assert summary.errors[0]["type"] == "CredentialsRejected"
    assert summary.errors[0]["endpoint"] == "GET /v1/auth/token"
    assert "reset-yesterday" not in json.dumps(summary.errors)
    state = connection(env, connection_id)
    assert state.state == ConnectionState.NEEDS_REAUTH
    assert "reset-yesterday" not in (state.state_reason or "")


async def test_a_short_429_is_waited_out_through_x_pc_retry_after(
    env: SyncEnvironment, simulator: PingCodeSimulator, sleep: FakeSleep
) -> None:
    connection_id = make_pingcode_connection(env)
    simulator.fail_next(429, count=2, retry_after="3", path_contains="/work_items")
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert sleep.calls.count(3.0) == 2


async def test_a_429_longer_than_the_retry_budget_throttles_the_connection(
    env: SyncEnvironment, simulator: PingCodeSimulator, clock: FakeClock
) -> None:
    connection_id = make_pingcode_connection(env)
    simulator.fail_next(429, retry_after="900")
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    state = connection(env, connection_id)
    assert summary.errors[0]["type"] == "RateLimited"
    assert state.state == ConnectionState.THROTTLED
    assert state.throttled_until == datetime.fromtimestamp(clock.now.timestamp() + 900, UTC)


async def test_a_malformed_page_stores_nothing_and_keeps_the_cursor(
    env: SyncEnvironment, simulator: PingCodeSimulator
) -> None:
    connection_id = make_pingcode_connection(env)
    await run_sync(env, connection_id, SyncKind.FULL)
    with env.sessions() as session:
        cursor_before = load_cursor(session, connection_id, Resource.WORK_ITEMS)
    target = simulator.work_item_ids()[0]
    simulator.advance(3600)
    simulator.update_item(target, title="Changed while the page breaks")
    simulator.corrupt_next_page()

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.FAILED
    assert summary.errors[0]["type"] == "ContractBroken"
    assert item(env, target).title != "Changed while the page breaks"
    with env.sessions() as session:
        assert load_cursor(session, connection_id, Resource.WORK_ITEMS) == cursor_before
    assert connection(env, connection_id).state == ConnectionState.FAILING


async def test_an_interrupted_full_sync_keeps_its_pages_and_a_rerun_completes(
    env: SyncEnvironment, simulator: PingCodeSimulator, clock: FakeClock, sleep: FakeSleep
) -> None:
    connection_id = make_pingcode_connection(env)
    real_app = simulator.app
    seen = {"lists": 0}

    async def flaky(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") == "/v1/project/work_items":
            seen["lists"] += 1
            # Let the three milestone listings and the first page of items through.
            if seen["lists"] > 4:
                simulator.fail_next(503)
        await real_app(scope, receive, send)

    flaky_env = make_environment(
        sessions=env.sessions, box=env.box, clock=clock, sleep=sleep, app=flaky
    )
    first = await run_sync(flaky_env, connection_id, SyncKind.FULL)

    assert first.status is SyncStatus.FAILED
    assert first.errors[0]["type"] == "VendorUnavailable"
    first_page = list(simulator.items.values())[:100]  # the list is in id order
    committed = sum(1 for i in first_page if i.type != "milestone")
    assert count(env, t.WorkItem) == committed  # the first page, milestone items left out
    with env.sessions() as session:
        # PingCode's list has no documented order: no cursor until a listing completes.
        assert load_cursor(session, connection_id, Resource.WORK_ITEMS) is None

    second = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert second.status is SyncStatus.SUCCEEDED, second.errors
    assert live_ids(env) == set(simulator.work_item_ids())
    assert second.unchanged >= committed
    assert connection(env, connection_id).state == ConnectionState.ACTIVE
