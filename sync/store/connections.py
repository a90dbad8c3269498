"""Connections: credentials sealed on the way in, opened only for a connector."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.connectors.base import ConnectionConfig
from sync.errors import Conflict, InvalidRequest, NotFound
from sync.http.client import check_base_url
from sync.mapping.vocabulary import parse_status_overrides
from sync.model import ConnectionState, Tool
from sync.store.crypto import SecretBox
from sync.store.tables import Connection


def create_connection(
    session: Session,
    box: SecretBox,
    *,
    name: str,
    tool: Tool,
    base_url: str,
    credentials: Mapping[str, str],
    scope: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    now: datetime,
) -> Connection:
    name = name.strip()
    if not name:
        raise InvalidRequest("a connection needs a name", field="name")
    if session.scalar(select(Connection.id).where(Connection.name == name)) is not None:
        raise Conflict(f"a connection named {name!r} already exists", field="name", name=name)
    options = dict(options or {})
    if "status_overrides" in options:
        parse_status_overrides(options["status_overrides"])
    connection = Connection(
        name=name,
        tool=tool.value,
        base_url=check_base_url(base_url),
        credentials=box.seal(credentials),
        scope=[s.strip() for s in scope if s.strip()],
        options=options,
        state=ConnectionState.ACTIVE.value,
        created_at=now,
        updated_at=now,
    )
    session.add(connection)
    session.flush()
    return connection


def get_connection(session: Session, ref: int | str) -> Connection:
    """By id, or by name (the CLI's way of naming one)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        found = session.get(Connection, int(ref))
    else:
        found = session.scalar(select(Connection).where(Connection.name == ref))
    if found is None:
        raise NotFound(f"no connection {ref!r}", connection=str(ref))
    return found


def list_connections(session: Session) -> list[Connection]:
    return list(session.scalars(select(Connection).order_by(Connection.id)))


def connection_config(connection: Connection, box: SecretBox) -> ConnectionConfig:
    return ConnectionConfig(
        base_url=connection.base_url,
        credentials=box.open(connection.credentials),
        scope=tuple(connection.scope or ()),
        options=dict(connection.options or {}),
    )


def set_state(
    session: Session,
    connection: Connection,
    state: ConnectionState,
    *,
    now: datetime,
    reason: str | None = None,
    throttled_until: datetime | None = None,
) -> None:
    connection.state = state.value
    connection.state_reason = reason
    connection.throttled_until = throttled_until
    connection.updated_at = now


def record_success(session: Session, connection: Connection, *, now: datetime) -> None:
    connection.last_success_at = now
    if connection.state != ConnectionState.PAUSED.value:
        set_state(session, connection, ConnectionState.ACTIVE, now=now)
