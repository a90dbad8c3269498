"""Sync runs (what each run did) and cursors (where the next one starts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from sync.model import Resource, SyncKind, SyncStatus
from sync.store.tables import SyncCursor, SyncRun


def start_run(session: Session, connection_id: int, kind: SyncKind, *, now: datetime) -> SyncRun:
    run = SyncRun(
        connection_id=connection_id,
        kind=kind.value,
        status=SyncStatus.RUNNING.value,
        started_at=now,
        pages=0,
        requests=0,
        fetched=0,
        upserted=0,
        unchanged=0,
        deleted=0,
        access_lost=0,
        errors=[],
    )
    session.add(run)
    session.flush()
    return run


def load_cursor(session: Session, connection_id: int, resource: Resource) -> dict[str, Any] | None:
    return session.scalar(
        select(SyncCursor.value).where(
            SyncCursor.connection_id == connection_id, SyncCursor.resource == resource.value
        )
    )


def save_cursor(
    session: Session,
    connection_id: int,
    resource: Resource,
    value: dict[str, Any],
    *,
    now: datetime,
) -> None:
    """Once per page: Core statements, no ORM object to load and flush."""
    table = cast(Table, SyncCursor.__table__)
    connection = session.connection()
    where = (table.c.connection_id == connection_id) & (table.c.resource == resource.value)
    stored = connection.execute(select(table.c.value).where(where)).first()
    if stored is None:
        connection.execute(
            insert(table).values(
                connection_id=connection_id, resource=resource.value, value=value, updated_at=now
            )
        )
    elif stored.value != value:
        connection.execute(update(table).where(where).values(value=value, updated_at=now))


def clear_cursors(session: Session, connection_id: int) -> None:
    for row in session.scalars(select(SyncCursor).where(SyncCursor.connection_id == connection_id)):
        session.delete(row)


def list_runs(
    session: Session, *, connection_id: int | None = None, limit: int = 50
) -> list[SyncRun]:
    query = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
    if connection_id is not None:
        query = query.where(SyncRun.connection_id == connection_id)
    return list(session.scalars(query))
