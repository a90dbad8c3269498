"""Tables, as typed SQLAlchemy 2 models. Alembic migrations must agree (a test checks).

Vendor records are keyed by ``(connection_id, vendor_id)``: upserts and replays land on the
same row. Lifecycle is two timestamps, never a delete: ``deleted_at`` (the tool deleted it)
and ``access_lost_at`` (we can no longer see it; a revoked token is not a deletion).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sync.store.types import BigId, Json, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: Json,
        list[Any]: Json,
    }


class Connection(Base):
    __tablename__ = "connection"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    tool: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str] = mapped_column(String(500))
    #: Fernet token of the JSON credentials; never returned, never logged.
    credentials: Mapped[bytes] = mapped_column(LargeBinary)
    scope: Mapped[list[Any]] = mapped_column(Json, default=list)
    #: Vocabulary overrides and connector options (estimate field, status overrides, ...).
    options: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="active")
    state_reason: Mapped[str | None] = mapped_column(Text)
    throttled_until: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    #: Lower-cased; the key that merges one human across tools.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime]


class PersonIdentity(Base):
    """One account in one connection, pointing at the merged person."""

    __tablename__ = "person_identity"
    __table_args__ = (UniqueConstraint("connection_id", "vendor_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    vendor_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (UniqueConstraint("connection_id", "vendor_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    vendor_id: Mapped[str] = mapped_column(String(128))
    key: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    raw: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(32))
    deleted_at: Mapped[datetime | None]
    access_lost_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(index=True)


class Milestone(Base):
    __tablename__ = "milestone"
    __table_args__ = (UniqueConstraint("connection_id", "vendor_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    vendor_id: Mapped[str] = mapped_column(String(128))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    reached: Mapped[bool] = mapped_column(Boolean, default=False)
    reached_at: Mapped[datetime | None]
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(32))
    deleted_at: Mapped[datetime | None]
    access_lost_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(index=True)


class WorkItem(Base):
    __tablename__ = "work_item"
    __table_args__ = (
        UniqueConstraint("connection_id", "vendor_id"),
        # Covers goal scopes and rollups: every selector field and every counted column, so
        # a rollup never reads the wide rows (raw payloads spill into overflow pages).
        Index(
            "ix_work_item_scope",
            "connection_id",
            "project_id",
            "milestone_id",
            "status_category",
            "item_type",
            "assignee_id",
            "estimate",
            "deleted_at",
            "access_lost_at",
            "labels",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    #: Copied from the connection so BI filters by tool without a join (not indexed: a tool
    #: is a fifth of the rows or more, a scan either way).
    tool: Mapped[str] = mapped_column(String(16))
    vendor_id: Mapped[str] = mapped_column(String(128))
    key: Mapped[str | None] = mapped_column(String(128))
    url: Mapped[str | None] = mapped_column(Text)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(Text)
    item_type: Mapped[str | None] = mapped_column(String(128))
    status_name: Mapped[str | None] = mapped_column(String(200))
    status_category: Mapped[str] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    start_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    created_at: Mapped[datetime | None]
    vendor_updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    estimate: Mapped[float | None] = mapped_column(Float)
    labels: Mapped[list[Any]] = mapped_column(Json, default=list)
    priority: Mapped[str | None] = mapped_column(String(64))
    parent_vendor_id: Mapped[str | None] = mapped_column(String(128))
    milestone_id: Mapped[int | None] = mapped_column(
        ForeignKey("milestone.id", ondelete="SET NULL"), index=True
    )
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The vendor's JSON as received, so a vocabulary change re-derives without a re-fetch.
    raw: Mapped[str] = mapped_column(Text)
    #: Digest of raw + mapped fields: an unchanged record is not written again.
    content_hash: Mapped[str] = mapped_column(String(32))
    deleted_at: Mapped[datetime | None]
    access_lost_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    #: When pmbridge last changed this row: what ``updated_since`` filters on.
    recorded_at: Mapped[datetime] = mapped_column(index=True)


class ItemChange(Base):
    """Append-only history of what matters for progress and forecasts."""

    __tablename__ = "item_change"
    __table_args__ = (Index(None, "work_item_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_item.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))


class SyncRun(Base):
    __tablename__ = "sync_run"
    __table_args__ = (Index(None, "connection_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    pages: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    upserted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    access_lost: Mapped[int] = mapped_column(Integer, default=0)
    #: Items the tool reports in scope vs items stored, where the tool gives a count.
    vendor_count: Mapped[int | None] = mapped_column(Integer)
    stored_count: Mapped[int | None] = mapped_column(Integer)
    errors: Mapped[list[Any]] = mapped_column(Json, default=list)


class SyncCursor(Base):
    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("connection_id", "resource"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(32))
    value: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime]


class CensusSeen(Base):
    """Scratch rows for one census run: ids seen, so unseen ones are found in SQL, not RAM."""

    __tablename__ = "census_seen"

    sync_run_id: Mapped[int] = mapped_column(
        ForeignKey("sync_run.id", ondelete="CASCADE"), primary_key=True
    )
    vendor_id: Mapped[str] = mapped_column(String(128), primary_key=True)


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: First characters of the key, shown in listings so a person can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the whole key; the key itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(Json)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
