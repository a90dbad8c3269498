"""The inbox and lease repositories: stored once, claimed by one worker at a time, completed
only while held, retried with backoff, dead letters kept, expired leases taken over."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync.errors import Conflict, NotFound
from sync.model import ConnectionState, SyncKind, SyncStatus
from sync.store import inbox, leases, runs
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.inbox_tables import SyncSchedule, WebhookDelivery
from sync.store.leases import LeaseLost
from sync.store.tables import Connection, SyncRun
from tests.builders import make_environment, make_jira_connection, make_jira_simulator
from tests.fakes import FakeClock, FakeSleep

LEASE = timedelta(seconds=60)


@pytest.fixture
def connection_id(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> int:
    env = make_environment(
        sessions=db, box=box, clock=clock, sleep=sleep, app=make_jira_simulator(issues=1).app
    )
    return make_jira_connection(env)


def store(db: sessionmaker[Session], connection_id: int, key: str, clock: FakeClock) -> int:
    with unit_of_work(db) as session:
        delivery_id, _new = inbox.insert_if_new(
            session,
            connection_id=connection_id,
            dedup_key=key,
            body=b'{"key": "' + key.encode() + b'"}',
            headers={"Content-Type": "application/json"},
            now=clock(),
        )
    return delivery_id


def claim(
    db: sessionmaker[Session], connection_id: int, owner: str, clock: FakeClock, limit: int = 10
) -> list[int]:
    with unit_of_work(db) as session:
        claimed = inbox.claim(
            session, connection_id, owner=owner, now=clock(), lease=LEASE, limit=limit
        )
    return [c.id for c in claimed]


def row(db: sessionmaker[Session], delivery_id: int) -> WebhookDelivery:
    with db() as session:
        return session.get_one(WebhookDelivery, delivery_id)


# -- storing --------------------------------------------------------------------------------
def test_a_delivery_is_stored_once_per_key(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    with unit_of_work(db) as session:
        first = inbox.insert_if_new(
            session, connection_id=connection_id, dedup_key="k", body=b"{}", headers={}, now=clock()
        )
        again = inbox.insert_if_new(
            session, connection_id=connection_id, dedup_key="k", body=b"{}", headers={}, now=clock()
        )
    assert first == (first[0], True)
    assert again == (first[0], False)
    assert row(db, first[0]).state == "pending"


def test_only_harmless_headers_are_kept() -> None:
    kept = inbox.kept_headers(
        {
            "Content-Type": "application/json",
            "X-Atlassian-Webhook-Identifier": "abc",
            "X-Hub-Signature": "sha256=...",
            "X-Pmbridge-Token": "the shared secret",
            "Authorization": "Bearer secret",
        }
    )
    assert kept == {"content-type": "application/json", "x-atlassian-webhook-identifier": "abc"}


# -- claiming -------------------------------------------------------------------------------
def test_a_claim_leases_due_deliveries_oldest_first_and_counts_the_attempt(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    ids = [store(db, connection_id, f"k{i}", clock) for i in range(3)]
    assert claim(db, connection_id, "a", clock, limit=2) == ids[:2]
    assert claim(db, connection_id, "b", clock) == ids[2:]
    assert claim(db, connection_id, "c", clock) == []
    leased = row(db, ids[0])
    assert (leased.state, leased.lease_owner, leased.attempts) == ("processing", "a", 1)
    assert leased.lease_until == clock() + LEASE


def test_an_expired_lease_is_taken_over(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    delivery_id = store(db, connection_id, "k", clock)
    claim(db, connection_id, "dead-worker", clock)
    clock.advance(LEASE.total_seconds() + 1)
    assert claim(db, connection_id, "survivor", clock) == [delivery_id]
    assert row(db, delivery_id).attempts == 2


def test_completion_counts_only_while_held(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    delivery_id = store(db, connection_id, "k", clock)
    claim(db, connection_id, "slow", clock)
    clock.advance(LEASE.total_seconds() + 1)
    claim(db, connection_id, "fast", clock)
    with pytest.raises(LeaseLost), unit_of_work(db) as session:
        inbox.complete(session, {delivery_id: 1}, owner="slow", now=clock())
    with unit_of_work(db) as session:
        inbox.complete(session, {delivery_id: 1}, owner="fast", now=clock())
    done = row(db, delivery_id)
    assert (done.state, done.notices, done.applied_at, done.lease_owner) == (
        "done",
        1,
        clock(),
        None,
    )


def test_a_failure_waits_for_its_retry_time_or_becomes_a_dead_letter(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    retried, dead = store(db, connection_id, "a", clock), store(db, connection_id, "b", clock)
    claim(db, connection_id, "w", clock)
    with unit_of_work(db) as session:
        inbox.fail(session, [retried], owner="w", error="vendor down", retry_at=clock() + LEASE)
        inbox.fail(session, [dead], owner="w", error="not JSON", retry_at=None)
    assert claim(db, connection_id, "w", clock) == []
    assert (row(db, dead).state, row(db, dead).last_error) == ("dead", "not JSON")
    clock.advance(LEASE.total_seconds())
    assert claim(db, connection_id, "w", clock) == [retried]


def test_released_deliveries_are_due_again_without_spending_an_attempt(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    delivery_id = store(db, connection_id, "k", clock)
    claim(db, connection_id, "w", clock)
    with unit_of_work(db) as session:
        inbox.release(session, [delivery_id], owner="w", now=clock())
    assert (row(db, delivery_id).state, row(db, delivery_id).attempts) == ("pending", 0)


def test_a_dead_letter_can_be_retried_but_an_applied_delivery_cannot(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    dead, done = store(db, connection_id, "a", clock), store(db, connection_id, "b", clock)
    claim(db, connection_id, "w", clock)
    with unit_of_work(db) as session:
        inbox.fail(session, [dead], owner="w", error="boom", retry_at=None)
        inbox.complete(session, {done: 0}, owner="w", now=clock())
    clock.advance(5)
    with unit_of_work(db) as session:
        again = inbox.retry(session, dead, now=clock())
        assert (again.state, again.attempts, again.available_at) == ("pending", 0, clock())
    with pytest.raises(Conflict), unit_of_work(db) as session:
        inbox.retry(session, done, now=clock())
    with pytest.raises(NotFound), unit_of_work(db) as session:
        inbox.retry(session, 9999, now=clock())


def test_listing_filters_by_state_and_pages_by_id(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    ids = [store(db, connection_id, f"k{i}", clock) for i in range(3)]
    claim(db, connection_id, "w", clock, limit=1)
    with db() as session:
        pending = inbox.list_deliveries(session, states=["pending"])
        after = inbox.list_deliveries(session, after_id=ids[0], limit=1)
        counts = inbox.counts_by_state(session, connection_id)
        last = inbox.last_received(session, connection_id)
    assert [d.id for d in pending] == ids[1:]
    assert [d.id for d in after] == [ids[1]]
    assert counts == {"pending": 2, "processing": 1, "done": 0, "dead": 0}
    assert last == clock()


def test_applied_deliveries_are_purged_after_the_retention(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    old = store(db, connection_id, "old", clock)
    claim(db, connection_id, "w", clock)
    with unit_of_work(db) as session:
        inbox.complete(session, {old: 1}, owner="w", now=clock())
    clock.advance(3600)
    fresh = store(db, connection_id, "fresh", clock)
    with unit_of_work(db) as session:
        assert inbox.purge_done(session, before=clock() - timedelta(minutes=30)) == 1
    with db() as session:
        assert list(session.scalars(select(WebhookDelivery.id))) == [fresh]


# -- connection leases ----------------------------------------------------------------------
def schedule(db: sessionmaker[Session], clock: FakeClock) -> None:
    with unit_of_work(db) as session:
        leases.ensure_schedules(session, now=clock(), first_census_at=clock() + timedelta(days=1))


def take(db: sessionmaker[Session], owner: str, clock: FakeClock) -> list[int]:
    with unit_of_work(db) as session:
        return leases.claim_connections(session, owner=owner, now=clock(), lease=LEASE, limit=5)


def test_a_due_connection_is_leased_to_one_worker_at_a_time(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    schedule(db, clock)
    assert take(db, "a", clock) == [connection_id]
    assert take(db, "b", clock) == []
    with unit_of_work(db) as session:
        assert leases.renew(session, connection_id, owner="a", now=clock(), lease=LEASE)
        assert not leases.renew(session, connection_id, owner="b", now=clock(), lease=LEASE)
        assert leases.holds(session, connection_id, owner="a", now=clock())
        leases.release(session, connection_id, owner="a", now=clock())
    assert take(db, "b", clock) == [connection_id]


def test_a_dead_workers_connection_is_taken_over_when_its_lease_expires(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    schedule(db, clock)
    take(db, "dead", clock)
    clock.advance(LEASE.total_seconds() - 1)
    assert take(db, "survivor", clock) == []
    clock.advance(2)
    assert take(db, "survivor", clock) == [connection_id]
    with pytest.raises(LeaseLost), unit_of_work(db) as session:
        leases.postpone(session, connection_id, owner="dead", now=clock())


def test_only_connections_with_work_due_are_claimed(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    schedule(db, clock)
    with unit_of_work(db) as session:
        row = session.get_one(SyncSchedule, connection_id)
        row.next_incremental_at = clock() + timedelta(minutes=5)
    assert take(db, "a", clock) == []
    store(db, connection_id, "k", clock)
    assert take(db, "a", clock) == [connection_id]


@pytest.mark.parametrize(
    ("state", "throttled_for", "claimable"),
    [
        (ConnectionState.PAUSED, None, False),
        (ConnectionState.NEEDS_REAUTH, None, False),
        (ConnectionState.THROTTLED, 60, False),
        (ConnectionState.THROTTLED, -1, True),
        (ConnectionState.FAILING, None, True),
    ],
)
def test_paused_reauth_and_throttled_connections_are_left_alone(
    db: sessionmaker[Session],
    connection_id: int,
    clock: FakeClock,
    state: ConnectionState,
    throttled_for: int | None,
    claimable: bool,
) -> None:
    schedule(db, clock)
    with unit_of_work(db) as session:
        connection = session.get_one(Connection, connection_id)
        connection.state = state.value
        if throttled_for is not None:
            connection.throttled_until = clock() + timedelta(seconds=throttled_for)
    assert take(db, "a", clock) == ([connection_id] if claimable else [])


def test_a_run_left_running_by_a_dead_worker_is_failed_by_its_successor(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    schedule(db, clock)
    take(db, "dead", clock)
    with unit_of_work(db) as session:
        run_id = runs.start_run(session, connection_id, SyncKind.INCREMENTAL, now=clock()).id
        leases.record_run_started(session, connection_id, owner="dead", run_id=run_id, now=clock())
    clock.advance(LEASE.total_seconds() + 1)
    take(db, "survivor", clock)
    with unit_of_work(db) as session:
        assert leases.fail_orphaned_run(session, connection_id, now=clock()) == run_id
        assert leases.fail_orphaned_run(session, connection_id, now=clock()) is None
    with db() as session:
        run = session.get_one(SyncRun, run_id)
        assert (run.status, run.finished_at) == (SyncStatus.FAILED.value, clock())
        assert run.errors[-1]["type"] == "WorkerLost"


def test_a_worker_knows_before_each_batch_whether_it_may_work_rest_or_has_lost(
    db: sessionmaker[Session], connection_id: int, clock: FakeClock
) -> None:
    def standing(owner: str = "a") -> leases.Standing:
        with db() as session:
            return leases.standing(session, connection_id, owner=owner, now=clock())

    def set_state(state: ConnectionState, throttled_for: float | None = None) -> None:
        with unit_of_work(db) as session:
            row = session.get_one(Connection, connection_id)
            row.state = state.value
            row.throttled_until = (
                clock() + timedelta(seconds=throttled_for) if throttled_for is not None else None
            )

    schedule(db, clock)
    assert standing() is leases.Standing.LOST  # not taken yet
    take(db, "a", clock)
    assert standing() is leases.Standing.WORKING
    assert standing("b") is leases.Standing.LOST
    set_state(ConnectionState.PAUSED)
    assert standing() is leases.Standing.RESTING
    set_state(ConnectionState.THROTTLED, throttled_for=30)
    assert standing() is leases.Standing.RESTING
    clock.advance(31)
    assert standing() is leases.Standing.WORKING  # the vendor's wait is over
    clock.advance(LEASE.total_seconds())
    assert standing() is leases.Standing.LOST  # not renewed: another worker may have it
