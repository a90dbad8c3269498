"""The webhook inbox: verified deliveries stored before the reply, claimed by workers with
leases, applied exactly once, retried with backoff, and kept as dead letters when they fail.

Claims lock candidate rows ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (several workers pass each
other by) and run plainly on SQLite (one worker). Either way a claim stamps the rows with the
worker and a lease expiry; a row whose lease expired belongs to a worker that is gone and is
claimable again. Completing a delivery is conditional on still holding it, in the same
transaction as the writes it caused, so a delivery is applied once even when a slow worker
loses its lease to another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Integer,
    LargeBinary,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from sync.errors import Conflict, NotFound
from sync.store.inbox_tables import WebhookDelivery, WebhookRegistration
from sync.store.leases import LeaseLost, due_delivery
from sync.store.types import Json, UtcDateTime


class DeliveryState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    DEAD = "dead"


#: Headers kept with a delivery: what parsing or a person diagnosing it may need. Signature
#: and token headers are left out, because some tools send a shared secret as a header.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "user-agent",
        "x-atlassian-webhook-identifier",
        "x-atlassian-webhook-retry",
        "x-atlassian-webhook-flow",
    }
)


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() in KEPT_HEADERS}


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to one worker: what it needs to apply it."""

    id: int
    connection_id: int
    body: bytes
    headers: dict[str, str]
    attempts: int
    received_at: datetime


#: ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` as text: the dialects' own ``insert()``
#: constructs carry no cache key, so SQLAlchemy would compile them on every delivery (about
#: half a millisecond); text with typed parameters is compiled once. Both backends accept it
#: (SQLite >= 3.35).
_INSERT = text(
    "INSERT INTO webhook_inbox (connection_id, dedup_key, body, headers, state, attempts, "
    "available_at, received_at) VALUES (:connection_id, :dedup_key, :body, :headers, :state, "
    ":attempts, :available_at, :received_at) "
    "ON CONFLICT (connection_id, dedup_key) DO NOTHING RETURNING id"
).bindparams(
    bindparam("body", type_=LargeBinary()),
    bindparam("headers", type_=Json),
    bindparam("available_at", type_=UtcDateTime()),
    bindparam("received_at", type_=UtcDateTime()),
)


def insert_if_new(
    connection: Connection | Session,
    *,
    connection_id: int,
    dedup_key: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
) -> tuple[int, bool]:
    """Store a delivery unless its key is already there; return (id, whether it is new).

    Takes a Core connection as well as a session: the receiver answers every delivery with
    this one statement, and a session's bookkeeping would cost it more than the INSERT."""
    new_id = connection.execute(
        _INSERT,
        {
            "connection_id": connection_id,
            "dedup_key": dedup_key,
            "body": body,
            "headers": kept_headers(headers),
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "available_at": now,
            "received_at": now,
        },
    ).scalar()
    if new_id is not None:
        return int(new_id), True
    existing = connection.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.connection_id == connection_id,
            WebhookDelivery.dedup_key == dedup_key,
        )
    )
    if existing is None:  # pragma: no cover - only if purged between the two statements
        raise Conflict("the delivery was stored and removed at once; retry", field="dedup_key")
    return int(existing), False


#: The hot statements of the worker's loop, built once: an ORM-enabled UPDATE, or a
#: statement built per call, cost more in SQLAlchemy's bookkeeping (cache keys, ORM
#: bulk-update set-up) than the database took to run it.
_INBOX = cast(Table, WebhookDelivery.__table__)
_NOW = bindparam("now", type_=UtcDateTime())
_HELD = and_(
    _INBOX.c.id.in_(bindparam("ids", expanding=True)),
    _INBOX.c.lease_owner == bindparam("owner"),
    _INBOX.c.state == DeliveryState.PROCESSING.value,
)


def _claim_statement(*, skip_locked: bool) -> Any:
    """One UPDATE ... RETURNING: lease the due rows and read what applying them needs."""
    due = (
        select(_INBOX.c.id)
        .where(_INBOX.c.connection_id == bindparam("of_connection"), due_delivery(_NOW))
        .order_by(_INBOX.c.id)
        .limit(bindparam("limit", type_=Integer()))
    )
    if skip_locked:  # PostgreSQL: workers pass each other's locked rows by
        due = due.with_for_update(skip_locked=True)
    return (
        update(_INBOX)
        .where(_INBOX.c.id.in_(due.scalar_subquery()))
        .values(
            state=DeliveryState.PROCESSING.value,
            lease_owner=bindparam("owner"),
            lease_until=bindparam("until", type_=UtcDateTime()),
            attempts=_INBOX.c.attempts + 1,
        )
        .returning(
            _INBOX.c.id,
            _INBOX.c.connection_id,
            _INBOX.c.body,
            _INBOX.c.headers,
            _INBOX.c.attempts,
            _INBOX.c.received_at,
        )
    )


_CLAIM = {False: _claim_statement(skip_locked=False), True: _claim_statement(skip_locked=True)}


def _held_statement(**values: Any) -> Any:
    """Set ``values`` on the listed deliveries this worker still holds, and let them go."""
    return update(_INBOX).where(_HELD).values(**values, lease_owner=None, lease_until=None)


_COMPLETE = _held_statement(
    state=DeliveryState.DONE.value,
    applied_at=_NOW,
    notices=bindparam("notices", type_=Integer()),
    last_error=None,
)
_RETRY_LATER = _held_statement(
    state=DeliveryState.PENDING.value,
    available_at=bindparam("retry_at", type_=UtcDateTime()),
    last_error=bindparam("error", type_=Text()),
)
_BURY = _held_statement(state=DeliveryState.DEAD.value, last_error=bindparam("error", type_=Text()))
_HAND_BACK = _held_statement(
    state=DeliveryState.PENDING.value, available_at=_NOW, attempts=_INBOX.c.attempts - 1
)


def claim(
    session: Session,
    connection_id: int,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries of one connection, oldest first; each claim counts
    as an attempt (a delivery that kills its workers ends as a dead letter too)."""
    statement = _CLAIM[session.get_bind().dialect.name == "postgresql"]
    rows = session.execute(
        statement,
        {
            "of_connection": connection_id,
            "now": now,
            "limit": limit,
            "owner": owner,
            "until": now + lease,
        },
    ).all()
    return sorted(
        (
            Claimed(
                r.id,
                r.connection_id,
                bytes(r.body),
                dict(r.headers or {}),
                r.attempts,
                r.received_at,
            )
            for r in rows
        ),
        key=lambda claimed: claimed.id,
    )


def complete(
    session: Session,
    notices: Mapping[int, int],
    *,
    owner: str,
    now: datetime,
) -> None:
    """Mark deliveries done (delivery id -> notices it named) if this worker still holds
    them; otherwise raise :class:`LeaseLost` so the caller's transaction rolls back."""
    if not notices:
        return
    by_count: dict[int, list[int]] = {}
    for delivery_id, count in notices.items():
        by_count.setdefault(count, []).append(delivery_id)
    changed = 0
    for count, ids in by_count.items():
        changed += _update_held(session, _COMPLETE, ids, owner, {"now": now, "notices": count})
    if changed != len(notices):
        raise LeaseLost(
            f"{len(notices) - changed} of {len(notices)} deliveries were taken over",
            owner=owner,
        )


def fail(
    session: Session,
    delivery_ids: Sequence[int],
    *,
    owner: str,
    error: str,
    retry_at: datetime | None,
) -> None:
    """Record a failed attempt: back to pending until ``retry_at``, or a dead letter if None."""
    if not delivery_ids:
        return
    if retry_at is None:
        changed = _update_held(session, _BURY, delivery_ids, owner, {"error": error[:2000]})
    else:
        changed = _update_held(
            session,
            _RETRY_LATER,
            delivery_ids,
            owner,
            {"error": error[:2000], "retry_at": retry_at},
        )
    if changed != len(delivery_ids):
        raise LeaseLost("deliveries were taken over before their failure was recorded")


def release(session: Session, delivery_ids: Sequence[int], *, owner: str, now: datetime) -> None:
    """Hand deliveries back untried (a stopping worker, a connection that needs reauth)."""
    if delivery_ids:
        _update_held(session, _HAND_BACK, delivery_ids, owner, {"now": now})


def _update_held(
    session: Session, statement: Any, ids: Sequence[int], owner: str, values: dict[str, Any]
) -> int:
    result = session.execute(statement, {"ids": list(ids), "owner": owner, **values})
    return _rowcount(result)


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count


def retry(session: Session, delivery_id: int, *, now: datetime) -> WebhookDelivery:
    """A person asks for another try: a dead letter (or a waiting delivery) is due again now,
    with a fresh count of attempts."""
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound(f"no webhook delivery {delivery_id}", delivery_id=delivery_id)
    if row.state not in (DeliveryState.DEAD.value, DeliveryState.PENDING.value):
        raise Conflict(
            f"delivery {delivery_id} is {row.state}; only dead or pending deliveries are retried",
            delivery_id=delivery_id,
            state=row.state,
        )
    row.state = DeliveryState.PENDING.value
    row.attempts = 0
    row.available_at = now
    row.lease_owner = None
    row.lease_until = None
    session.flush()
    return row


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery:
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound(f"no webhook delivery {delivery_id}", delivery_id=delivery_id)
    return row


def list_deliveries(
    session: Session,
    *,
    states: Sequence[str] = (),
    connection_ids: Sequence[int] = (),
    after_id: int | None = None,
    limit: int = 100,
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.id).limit(limit)
    if states:
        query = query.where(WebhookDelivery.state.in_(list(states)))
    if connection_ids:
        query = query.where(WebhookDelivery.connection_id.in_(list(connection_ids)))
    if after_id is not None:
        query = query.where(WebhookDelivery.id > after_id)
    return list(session.scalars(query))


def counts_by_state(session: Session, connection_id: int) -> dict[str, int]:
    counts = {state.value: 0 for state in DeliveryState}
    for state, count in session.execute(
        select(WebhookDelivery.state, func.count())
        .where(WebhookDelivery.connection_id == connection_id)
        .group_by(WebhookDelivery.state)
    ):
        counts[state] = count
    return counts


def last_received(session: Session, connection_id: int) -> datetime | None:
    value: datetime | None = session.scalar(
        select(func.max(WebhookDelivery.received_at)).where(
            WebhookDelivery.connection_id == connection_id
        )
    )
    return value


def has_due(session: Session, connection_id: int, *, now: datetime) -> bool:
    found = session.scalar(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.connection_id == connection_id, due_delivery(now))
        .limit(1)
    )
    return found is not None


def purge_done(session: Session, *, before: datetime) -> int:
    """Forget applied deliveries received before ``before``. Keep them longer than any vendor
    retries (Asana: 24 h), or a late redelivery would be applied a second time."""
    result = session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.state == DeliveryState.DONE.value,
            WebhookDelivery.received_at < before,
        )
    )
    return _rowcount(result)


# -- registrations --------------------------------------------------------------------------
class RegistrationState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    FAILED = "failed"
    EXPIRED = "expired"


def add_registration(
    session: Session,
    *,
    connection_id: int,
    mode: str,
    callback_url: str,
    now: datetime,
    state: RegistrationState = RegistrationState.ACTIVE,
    vendor_webhook_id: str | None = None,
    target: str | None = None,
    sealed_secret: bytes | None = None,
    expires_at: datetime | None = None,
    state_reason: str | None = None,
) -> WebhookRegistration:
    row = WebhookRegistration(
        connection_id=connection_id,
        mode=mode,
        vendor_webhook_id=vendor_webhook_id,
        target=target,
        callback_url=callback_url,
        secret=sealed_secret,
        state=state.value,
        state_reason=state_reason,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def list_registrations(session: Session, connection_id: int) -> list[WebhookRegistration]:
    return list(
        session.scalars(
            select(WebhookRegistration)
            .where(WebhookRegistration.connection_id == connection_id)
            .order_by(WebhookRegistration.id)
        )
    )


def live_registrations(session: Session, connection_id: int) -> list[WebhookRegistration]:
    """Registrations deliveries may come from: pending (handshake awaited) or active."""
    return list(
        session.scalars(
            select(WebhookRegistration)
            .where(
                WebhookRegistration.connection_id == connection_id,
                WebhookRegistration.state.in_(
                    [RegistrationState.PENDING.value, RegistrationState.ACTIVE.value]
                ),
            )
            .order_by(WebhookRegistration.id)
        )
    )


def update_registration(
    session: Session, registration_id: int, *, now: datetime, **values: Any
) -> WebhookRegistration:
    row = session.get(WebhookRegistration, registration_id)
    if row is None:
        raise NotFound(f"no webhook registration {registration_id}")
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now
    session.flush()
    return row
