"""The worker's schedule and its care for connections: polling every N minutes, a census
every M hours, per-connection intervals, backoff after failures, hands off throttled and
needs-reauth connections, takes over what a dead worker left, and stops gracefully."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.registry import JiraHandle
from sync.connectors.base import WebhookRequest
from sync.engine.runner import SyncEnvironment
from sync.engine.webhooks import WebhookReceiver
from sync.engine.worker import (
    Intervals,
    Worker,
    due_kind,
    intervals_for,
    next_run_at,
)
from sync.model import ConnectionState, SyncKind, SyncStatus, Tool
from sync.settings import WorkerSettings
from sync.store import leases, runs
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.inbox_tables import SyncSchedule
from sync.store.leases import Schedule
from tests.builders_webhooks import (
    add_webhook_connection,
    environment_for,
    inbox_rows,
    item_row,
    jira_delivery,
    quiet_settings,
)
from tests.fakes import FakeClock, FakeSleep

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


# -- the schedule, as pure functions --------------------------------------------------------
def test_intervals_come_from_the_connection_else_the_worker() -> None:
    settings = WorkerSettings(incremental_every_minutes=15, census_every_hours=24)
    assert intervals_for({}, settings) == Intervals(timedelta(minutes=15), timedelta(hours=24))
    assert intervals_for({"sync_every_minutes": 5, "census_every_hours": "6"}, settings) == (
        Intervals(timedelta(minutes=5), timedelta(hours=6))
    )
    assert intervals_for({"sync_every_minutes": 0}, settings).incremental is None
    for nonsense in ("often", -3, True, None, [5]):
        assert intervals_for({"sync_every_minutes": nonsense}, settings).incremental == (
            timedelta(minutes=15)
        )


def schedule(*, incremental: datetime, census: datetime, failures: int = 0) -> Schedule:
    return Schedule(1, incremental, census, None, None, failures, None, None, None)


def test_an_incremental_run_comes_before_a_census_that_is_also_due() -> None:
    every = Intervals(timedelta(minutes=15), timedelta(hours=24))
    past, future = NOW - timedelta(seconds=1), NOW + timedelta(seconds=1)
    assert due_kind(NOW, schedule(incremental=past, census=past), every) is SyncKind.INCREMENTAL
    assert due_kind(NOW, schedule(incremental=future, census=NOW), every) is SyncKind.CENSUS
    assert due_kind(NOW, schedule(incremental=future, census=future), every) is None
    assert due_kind(NOW, schedule(incremental=past, census=past), Intervals(None, None)) is None


def test_failed_runs_push_the_next_one_back_twice_as_far_each_time_up_to_a_ceiling() -> None:
    every, ceiling = timedelta(minutes=15), timedelta(hours=4)
    waits = [next_run_at(NOW, every, failures, ceiling) - NOW for failures in range(6)]
    assert [w.total_seconds() / 60 for w in waits] == [15, 30, 60, 120, 240, 240]
    assert next_run_at(NOW, timedelta(hours=24), 40, ceiling) - NOW == timedelta(hours=24)


# -- the worker against the Jira simulator --------------------------------------------------
@pytest.fixture
def jira() -> JiraHandle:
    return JiraHandle(items=40)


@pytest.fixture
def env(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep, jira: JiraHandle
) -> SyncEnvironment:
    return environment_for(jira, sessions=db, box=box, clock=clock, sleep=sleep)


def polling(**overrides: Any) -> WorkerSettings:
    return quiet_settings(incremental_every_minutes=15, census_every_hours=24, **overrides)


def the_schedule(env: SyncEnvironment, connection_id: int) -> SyncSchedule:
    with env.sessions() as session:
        return session.get_one(SyncSchedule, connection_id)


def connection(env: SyncEnvironment, connection_id: int) -> t.Connection:
    with env.sessions() as session:
        return session.get_one(t.Connection, connection_id)


async def test_a_new_connection_is_synced_at_once_and_then_every_interval(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    worker = Worker(env, polling(), owner="w")

    first = await worker.run_once()
    assert [(r.kind, r.status) for r in first.runs] == [
        (SyncKind.INCREMENTAL, SyncStatus.SUCCEEDED)
    ]
    assert first.runs[0].fetched > 40  # no cursor yet: everything is read
    row = the_schedule(env, connection_id)
    assert row.next_incremental_at == clock() + timedelta(minutes=15)
    assert row.next_census_at == clock() + timedelta(hours=24)
    assert (row.last_incremental_at, row.lease_owner, row.failures) == (clock(), None, 0)

    clock.advance(14 * 60)
    assert (await worker.run_once()).runs == []
    clock.advance(60)
    assert [r.kind for r in (await worker.run_once()).runs] == [SyncKind.INCREMENTAL]


async def test_the_census_runs_on_its_own_schedule_after_the_incremental(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA, options={"census_every_hours": 6})
    worker = Worker(env, polling(), owner="w")
    await worker.run_once()
    clock.advance(6 * 3600)
    kinds = [r.kind for _ in range(2) for r in (await worker.run_once()).runs]
    assert kinds == [SyncKind.INCREMENTAL, SyncKind.CENSUS]
    assert the_schedule(env, connection_id).next_census_at == clock() + timedelta(hours=6)


async def test_a_connections_own_interval_wins(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA, options={"sync_every_minutes": 5})
    await Worker(env, polling(), owner="w").run_once()
    assert the_schedule(env, connection_id).next_incremental_at == clock() + timedelta(minutes=5)


async def test_polling_turned_off_is_looked_at_again_later_without_a_run(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    report = await Worker(env, quiet_settings(), owner="w").run_once()
    assert report.runs == []
    assert the_schedule(env, connection_id).next_incremental_at == clock() + timedelta(hours=1)


async def test_failing_runs_back_off(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    worker = Worker(env, polling(), owner="w")
    jira.vendor.fail_next(500, count=1000)
    delays = []
    for _ in range(3):
        report = await worker.run_once()
        assert [r.status for r in report.runs] == [SyncStatus.FAILED]
        row = the_schedule(env, connection_id)
        delays.append(((row.next_incremental_at - clock()).total_seconds() / 60, row.failures))
        clock.advance((row.next_incremental_at - clock()).total_seconds())
    assert delays == [(30, 1), (60, 2), (120, 3)]
    assert connection(env, connection_id).state == ConnectionState.FAILING.value


async def test_a_throttled_connection_is_left_alone_until_its_time(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    jira.vendor.fail_next(429, count=1000, retry_after="600")
    worker = Worker(env, polling(), owner="w")
    await worker.run_once()
    until = connection(env, connection_id).throttled_until
    assert connection(env, connection_id).state == ConnectionState.THROTTLED.value
    assert until is not None
    clock.advance((until - clock()).total_seconds() - 1)
    assert (await worker.run_once()).connections == []
    jira.vendor._failures.clear()  # the vendor recovers
    clock.advance(3600)
    report = await worker.run_once()
    assert [r.status for r in report.runs] == [SyncStatus.SUCCEEDED]
    assert connection(env, connection_id).state == ConnectionState.ACTIVE.value


async def test_a_connection_that_needs_reauth_is_not_polled_or_fed_deliveries(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle, db: sessionmaker[Session]
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    jira.vendor.fail_next(401, count=1000)
    worker = Worker(env, polling(), owner="w")
    await worker.run_once()
    assert connection(env, connection_id).state == ConnectionState.NEEDS_REAUTH.value
    receiver = WebhookReceiver(db, env.box, clock=clock)
    delivery = jira_delivery(jira.work_item_ids()[0])
    receiver.receive(connection_id, WebhookRequest(delivery.body, delivery.headers))
    clock.advance(86400)
    assert (await worker.run_once()).connections == []
    assert [r.state for r in inbox_rows(db)] == ["pending"]


async def test_a_connection_held_by_another_worker_is_not_touched(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    other = Worker(env, polling(), owner="other")
    other._claim(1, ())
    assert (await Worker(env, polling(), owner="w").run_once()).connections == []
    clock.advance(61)  # the other worker died: its lease ran out
    report = await Worker(env, polling(), owner="w").run_once()
    assert report.connections == [connection_id]


async def test_a_sync_left_running_by_a_dead_worker_is_failed_and_the_connection_synced(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    Worker(env, polling(), owner="dead")._claim(1, ())
    with unit_of_work(env.sessions) as session:
        orphan = runs.start_run(session, connection_id, SyncKind.INCREMENTAL, now=clock()).id
        leases.record_run_started(session, connection_id, owner="dead", run_id=orphan, now=clock())
    clock.advance(61)

    report = await Worker(env, polling(), owner="survivor").run_once()

    assert [r.status for r in report.runs] == [SyncStatus.SUCCEEDED]
    with env.sessions() as session:
        statuses = {r.id: r.status for r in session.execute(select(t.SyncRun.id, t.SyncRun.status))}
    assert statuses[orphan] == SyncStatus.FAILED.value


# -- running and stopping -------------------------------------------------------------------
class Gate:
    """Holds vendor requests whose path contains ``holding`` until opened."""

    def __init__(self, app: ASGIApp, holding: str) -> None:
        self.app, self.holding = app, holding
        self.opened = asyncio.Event()
        self.held = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.holding in scope["path"]:
            self.held.set()
            await self.opened.wait()
        await self.app(scope, receive, send)


async def eventually(check: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def titles(db: sessionmaker[Session], connection_id: int) -> dict[str, str]:
    with db() as session:
        rows = session.execute(
            select(t.WorkItem.vendor_id, t.WorkItem.title).where(
                t.WorkItem.connection_id == connection_id
            )
        )
        return {str(vendor_id): str(title) for vendor_id, title in rows}


async def test_a_delivery_for_a_held_connection_wakes_its_task_without_claiming_again(
    env: SyncEnvironment, clock: FakeClock, jira: JiraHandle, db: sessionmaker[Session]
) -> None:
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    # Nothing but a wake-up can get a delivery applied within the test's time.
    worker = Worker(env, quiet_settings(poll_seconds=30, linger_seconds=30), owner="w")
    claims: list[tuple[int, ...]] = []
    claim = worker._claim

    def counted(limit: int, exclude: tuple[int, ...]) -> list[int]:
        claims.append(exclude)
        return claim(limit, exclude)

    worker._claim = counted  # type: ignore[method-assign]
    running = asyncio.create_task(worker.run())
    receiver = WebhookReceiver(db, env.box, clock=clock)
    # The first look claims the connection (its webhook registrations are due a look) and
    # its task stays, lingering for deliveries.
    await eventually(lambda: connection_id in worker._held)

    for n, issue in enumerate(jira.work_item_ids()[:3]):
        jira.touch_item(issue, title=f"pushed {n}")
        delivery = jira_delivery(issue)
        receiver.receive(connection_id, WebhookRequest(delivery.body, delivery.headers))
        worker.wake(connection_id)
        await eventually(lambda i=issue, n=n: titles(db, connection_id).get(i) == f"pushed {n}")

    # Each delivery woke the task holding the connection; none cost another claiming pass.
    assert claims == [()]
    worker.stop()
    await asyncio.wait_for(running, 5)


async def test_a_running_worker_applies_deliveries_while_a_long_sync_is_in_progress(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    jira = JiraHandle(items=20)
    gate = Gate(jira.app, "/search")
    proxied: Any = type("Proxied", (), {"app": gate})()
    env = environment_for(proxied, sessions=db, box=box, clock=clock, sleep=sleep)
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    worker = Worker(env, polling(), owner="w")
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(gate.held.wait(), 5)  # the first sync is stuck on its search

    # The sync wrote projects first; the item arrives by webhook while the search hangs.
    issue = jira.work_item_ids()[0]
    jira.touch_item(issue, title="Arrived by webhook")
    receiver = WebhookReceiver(db, box, clock=clock)
    delivery = jira_delivery(issue)
    receiver.receive(connection_id, WebhookRequest(delivery.body, delivery.headers))
    worker.wake()
    await eventually(lambda: [r.state for r in inbox_rows(db)] == ["done"])
    assert item_row(db, connection_id, issue).title == "Arrived by webhook"

    gate.opened.set()
    await eventually(lambda: the_schedule(env, connection_id).last_incremental_at is not None)
    worker.stop()
    await asyncio.wait_for(running, 5)


async def test_stopping_gives_a_running_sync_its_grace_then_fails_it_and_lets_go(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    jira = JiraHandle(items=20)
    gate = Gate(jira.app, "/search")
    proxied: Any = type("Proxied", (), {"app": gate})()
    env = environment_for(proxied, sessions=db, box=box, clock=clock, sleep=sleep)
    connection_id = add_webhook_connection(env, jira, Tool.JIRA)
    worker = Worker(env, polling(stop_grace_seconds=0.05), owner="w")
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(gate.held.wait(), 5)

    worker.stop()
    await asyncio.wait_for(running, 5)

    with env.sessions() as session:
        [run] = session.scalars(select(t.SyncRun)).all()
    assert (run.status, run.errors[-1]["type"]) == (SyncStatus.FAILED.value, "WorkerLost")
    row = the_schedule(env, connection_id)
    assert (row.lease_owner, row.current_run_id) == (None, None)
    gate.opened.set()


async def test_a_running_worker_keeps_todays_goal_snapshots(
    env: SyncEnvironment, clock: FakeClock
) -> None:
    from insights.goals.definitions import SelectorDraft
    from sync.store.goal_tables import GoalSnapshot
    from tests.builders_goals import make_connection, make_goal

    connection_id = make_connection(env.sessions, env.box, name="crm", tool=Tool.JIRA, now=clock())
    make_goal(
        env.sessions,
        now=clock(),
        status="active",
        target=10,
        start_date=clock().date(),
        due_date=(clock() + timedelta(days=30)).date(),
        scope=[SelectorDraft(connection_id=connection_id)],
    )
    make_goal(env.sessions, now=clock(), title="Not yet agreed", status="draft", target=5)
    worker = Worker(env, polling(), owner="w")
    running = asyncio.create_task(worker.run())

    def snapshots() -> list[Any]:
        with env.sessions() as session:
            return list(session.scalars(select(GoalSnapshot)))

    await eventually(lambda: len(snapshots()) == 1)
    worker.stop()
    await asyncio.wait_for(running, 5)
    (snapshot,) = snapshots()
    assert snapshot.day == clock().date()
