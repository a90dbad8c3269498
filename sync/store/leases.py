"""Per-connection schedules and leases: which worker works on a connection, and when its next
incremental and census runs are due.

A lease is a pair of columns (``lease_owner``, ``lease_until``) taken by compare-and-set, so
two workers can never hold one connection at once, on any backend. On PostgreSQL the claim
first selects candidates ``FOR UPDATE SKIP LOCKED`` so competing workers pass each other by
instead of queueing on the same rows. A worker renews its leases while it works; a killed
worker's lease expires and the next claim takes the connection over.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sync.errors import PmbridgeError
from sync.model import ConnectionState, SyncStatus
from sync.store.inbox_tables import SyncSchedule, WebhookDelivery
from sync.store.tables import Connection, SyncRun

#: Connections in these states get no deliveries applied and no syncs run.
STOPPED_STATES = (ConnectionState.PAUSED.value, ConnectionState.NEEDS_REAUTH.value)


class LeaseLost(PmbridgeError):
    """Another worker took over a connection or delivery this worker thought it held."""

    action = "nothing: the other worker carries on; this one's work was rolled back"


@dataclass(frozen=True, slots=True)
class Schedule:
    connection_id: int
    next_incremental_at: datetime
    next_census_at: datetime
    last_incremental_at: datetime | None
    last_census_at: datetime | None
    failures: int
    lease_owner: str | None
    lease_until: datetime | None
    current_run_id: int | None


def _insert(session: Session) -> Any:
    return (
        postgresql.insert(SyncSchedule)
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert(SyncSchedule)
    )


def ensure_schedules(session: Session, *, now: datetime, first_census_at: datetime) -> int:
    """Give every connection without one a schedule: incremental due now, census later."""
    missing = list(
        session.scalars(
            select(Connection.id).where(
                ~exists().where(SyncSchedule.connection_id == Connection.id)
            )
        )
    )
    if not missing:
        return 0
    session.execute(
        _insert(session).on_conflict_do_nothing(),
        [
            {
                "connection_id": connection_id,
                "next_incremental_at": now,
                "next_census_at": first_census_at,
                "failures": 0,
                "updated_at": now,
            }
            for connection_id in missing
        ],
    )
    return len(missing)


def _free(now: datetime) -> Any:
    return or_(SyncSchedule.lease_until.is_(None), SyncSchedule.lease_until < now)


def claim_connections(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    exclude: Collection[int] = (),
) -> list[int]:
    """Lease up to ``limit`` connections that have work due, oldest due first.

    Due: a delivery waiting in the inbox, or a scheduled run whose time has come. Paused and
    needs-reauth connections are skipped, and so is a throttled one until its time is up.
    """
    if limit <= 0:
        return []
    inbox_due = exists().where(
        WebhookDelivery.connection_id == SyncSchedule.connection_id, due_delivery(now)
    )
    query = (
        select(SyncSchedule.connection_id)
        .join(Connection, Connection.id == SyncSchedule.connection_id)
        .where(
            _free(now),
            Connection.state.not_in(STOPPED_STATES),
            or_(Connection.throttled_until.is_(None), Connection.throttled_until <= now),
            or_(
                SyncSchedule.next_incremental_at <= now,
                SyncSchedule.next_census_at <= now,
                inbox_due,
            ),
        )
        .order_by(SyncSchedule.next_incremental_at, SyncSchedule.connection_id)
        .limit(limit + len(exclude))
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=SyncSchedule)
    candidates = [c for c in session.scalars(query) if c not in exclude][:limit]
    claimed = []
    for connection_id in candidates:
        # Compare-and-set: only a free lease is taken, whatever another worker just did.
        result = session.execute(
            update(SyncSchedule)
            .where(SyncSchedule.connection_id == connection_id, _free(now))
            .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) == 1:
            claimed.append(connection_id)
    return claimed


def due_delivery(now: datetime | ColumnElement[datetime]) -> Any:
    """A delivery a worker may claim: waiting and due, or leased to a worker that is gone.
    ``now`` may be a bound parameter, for a statement built once."""
    return or_(
        and_(WebhookDelivery.state == "pending", WebhookDelivery.available_at <= now),
        and_(WebhookDelivery.state == "processing", WebhookDelivery.lease_until < now),
    )


def renew(
    session: Session, connection_id: int, *, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Extend a held lease (and the owner's claimed deliveries); False if it was lost."""
    result = session.execute(
        update(SyncSchedule)
        .where(SyncSchedule.connection_id == connection_id, SyncSchedule.lease_owner == owner)
        .values(lease_until=now + lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return False
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.connection_id == connection_id,
            WebhookDelivery.state == "processing",
            WebhookDelivery.lease_owner == owner,
        )
        .values(lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return True


class Standing(enum.Enum):
    """Where a worker stands with a connection it took, before its next batch."""

    #: Held, and the connection may be worked on.
    WORKING = "working"
    #: Held, but paused, needing reauth, or throttled for now: nothing to do until later.
    RESTING = "resting"
    #: Not held any more (the lease ran out and another worker took it, or it was deleted).
    LOST = "lost"


_SCHEDULES = cast(Table, SyncSchedule.__table__)
_CONNECTIONS = cast(Table, Connection.__table__)
_STANDING = (
    select(
        _SCHEDULES.c.lease_owner,
        _SCHEDULES.c.lease_until,
        _CONNECTIONS.c.state,
        _CONNECTIONS.c.throttled_until,
    )
    .join(_CONNECTIONS, _CONNECTIONS.c.id == _SCHEDULES.c.connection_id)
    .where(_SCHEDULES.c.connection_id == bindparam("of_connection"))
)


def standing(session: Session, connection_id: int, *, owner: str, now: datetime) -> Standing:
    """One read, built once: the worker asks it before every batch of deliveries."""
    row = session.execute(_STANDING, {"of_connection": connection_id}).first()
    if row is None or row.lease_owner != owner or row.lease_until is None or row.lease_until < now:
        return Standing.LOST
    if row.state in STOPPED_STATES:
        return Standing.RESTING
    throttled = row.state == ConnectionState.THROTTLED.value
    if throttled and row.throttled_until is not None and row.throttled_until > now:
        return Standing.RESTING
    return Standing.WORKING


def holds(session: Session, connection_id: int, *, owner: str, now: datetime) -> bool:
    found = session.scalar(
        select(SyncSchedule.connection_id).where(
            SyncSchedule.connection_id == connection_id,
            SyncSchedule.lease_owner == owner,
            SyncSchedule.lease_until >= now,
        )
    )
    return found is not None


def release(session: Session, connection_id: int, *, owner: str, now: datetime) -> None:
    session.execute(
        update(SyncSchedule)
        .where(SyncSchedule.connection_id == connection_id, SyncSchedule.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def get_schedule(session: Session, connection_id: int) -> Schedule | None:
    row = session.get(SyncSchedule, connection_id)
    if row is None:
        return None
    return Schedule(
        connection_id=row.connection_id,
        next_incremental_at=row.next_incremental_at,
        next_census_at=row.next_census_at,
        last_incremental_at=row.last_incremental_at,
        last_census_at=row.last_census_at,
        failures=row.failures,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        current_run_id=row.current_run_id,
    )


def fail_orphaned_run(session: Session, connection_id: int, *, now: datetime) -> int | None:
    """A run a previous lease holder started and never finished: it died. Mark it failed so
    the connection can sync again; return its id."""
    row = session.get(SyncSchedule, connection_id)
    if row is None or row.current_run_id is None:
        return None
    run = session.get(SyncRun, row.current_run_id)
    row.current_run_id = None
    if run is None or run.status != SyncStatus.RUNNING.value:
        return None
    run.status = SyncStatus.FAILED.value
    run.finished_at = now
    run.errors = [
        *run.errors,
        {
            "type": "WorkerLost",
            "message": "the worker running this sync stopped before finishing it",
            "action": "nothing: another worker took the connection over",
        },
    ]
    return run.id


def record_run_started(
    session: Session, connection_id: int, *, owner: str, run_id: int, now: datetime
) -> None:
    _owned_update(session, connection_id, owner, current_run_id=run_id, updated_at=now)


def record_run_finished(
    session: Session,
    connection_id: int,
    *,
    owner: str,
    now: datetime,
    next_incremental_at: datetime | None = None,
    next_census_at: datetime | None = None,
    ran_incremental: bool = False,
    ran_census: bool = False,
    failures: int,
) -> None:
    values: dict[str, Any] = {"current_run_id": None, "failures": failures, "updated_at": now}
    if next_incremental_at is not None:
        values["next_incremental_at"] = next_incremental_at
    if next_census_at is not None:
        values["next_census_at"] = next_census_at
    if ran_incremental:
        values["last_incremental_at"] = now
    if ran_census:
        values["last_census_at"] = now
    _owned_update(session, connection_id, owner, **values)


def postpone(
    session: Session,
    connection_id: int,
    *,
    owner: str,
    now: datetime,
    next_incremental_at: datetime | None = None,
    next_census_at: datetime | None = None,
) -> None:
    """Move due times without recording a run (polling disabled, another run in the way)."""
    values: dict[str, Any] = {"updated_at": now}
    if next_incremental_at is not None:
        values["next_incremental_at"] = next_incremental_at
    if next_census_at is not None:
        values["next_census_at"] = next_census_at
    _owned_update(session, connection_id, owner, **values)


def _owned_update(session: Session, connection_id: int, owner: str, **values: Any) -> None:
    result = session.execute(
        update(SyncSchedule)
        .where(SyncSchedule.connection_id == connection_id, SyncSchedule.lease_owner == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        raise LeaseLost(
            f"connection {connection_id} is no longer leased to {owner}",
            connection_id=connection_id,
        )


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count
