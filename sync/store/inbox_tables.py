"""Tables for webhooks and workers: the durable inbox, registrations, and per-connection
schedules whose lease columns make one worker at a time responsible for a connection.

The inbox holds each verified delivery exactly as received (raw bytes) until a worker has
applied it. A delivery moves ``pending`` -> ``processing`` (leased to one worker until
``lease_until``) -> ``done``, or back to ``pending`` with a later ``available_at`` after a
failure, or to ``dead`` once its attempts run out. ``(connection_id, dedup_key)`` is unique:
a vendor's redelivery lands on the row it already has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.tables import Base
from sync.store.types import BigId, Json


class WebhookDelivery(Base):
    """One verified delivery, stored before the vendor gets its 2xx."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        UniqueConstraint("connection_id", "dedup_key"),
        # The claim: a connection's due rows, oldest first.
        Index(None, "connection_id", "state", "available_at"),
        # The admin listing and the retention purge filter on state alone.
        Index(None, "state", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    #: The vendor's delivery id (Jira), the action id (Trello), else a digest of the body.
    dedup_key: Mapped[str] = mapped_column(String(128))
    #: The body exactly as received: signatures and parsing both need the original bytes.
    body: Mapped[bytes] = mapped_column(LargeBinary)
    #: Headers worth keeping for parsing and diagnosis; never ones that carry a secret.
    headers: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: pending, processing, done or dead.
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Not before this time (backoff after a failure).
    available_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    #: Why the last attempt failed; for a dead letter, why it was given up.
    last_error: Mapped[str | None] = mapped_column(Text)
    #: Change notices the delivery named when it was applied.
    notices: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]


class WebhookRegistration(Base):
    """A receiver the tool knows about: registered through its API, or pasted by a person."""

    __tablename__ = "webhook_registration"
    __table_args__ = (Index(None, "connection_id", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    #: ``api`` (pmbridge registered it) or ``manual`` (a person pastes URL and secret).
    mode: Mapped[str] = mapped_column(String(16))
    #: The tool's id for the webhook, where it has one.
    vendor_webhook_id: Mapped[str | None] = mapped_column(String(128))
    #: What the webhook watches (a board, a project, a JQL filter), in the tool's terms.
    target: Mapped[str | None] = mapped_column(Text)
    #: The receiver URL exactly as registered (Trello signs it).
    callback_url: Mapped[str] = mapped_column(Text)
    #: Fernet-sealed secret learnt at registration (Asana's handshake); None: credentials'.
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: pending (handshake awaited), active, failed, expired.
    state: Mapped[str] = mapped_column(String(16))
    state_reason: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SyncSchedule(Base):
    """When a connection is next polled, and which worker holds it now.

    A worker owns a connection while ``lease_owner`` is it and ``lease_until`` is in the
    future: it alone applies the connection's deliveries and runs its syncs. A killed worker's
    lease simply expires and another worker takes the connection over.
    """

    __tablename__ = "sync_schedule"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True
    )
    next_incremental_at: Mapped[datetime]
    next_census_at: Mapped[datetime]
    last_incremental_at: Mapped[datetime | None]
    last_census_at: Mapped[datetime | None]
    #: Scheduled runs that failed in a row; the next one waits longer for each.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(index=True)
    #: The sync run the lease holder started; a successor fails it if it is left running.
    current_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_run.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime]
