"""Webhooks and workers: the durable inbox, registrations, and per-connection schedules with
lease columns (one worker per connection at a time).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def Utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_inbox",
        sa.Column("id", BigId, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("dedup_key", sa.String(128), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", Utc(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", Utc(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("notices", sa.Integer(), nullable=True),
        sa.Column("received_at", Utc(), nullable=False),
        sa.Column("applied_at", Utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_webhook_inbox_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_inbox")),
        sa.UniqueConstraint(
            "connection_id", "dedup_key", name=op.f("uq_webhook_inbox_connection_id_dedup_key")
        ),
    )
    op.create_index(
        op.f("ix_webhook_inbox_connection_id_state_available_at"),
        "webhook_inbox",
        ["connection_id", "state", "available_at"],
    )
    op.create_index(
        op.f("ix_webhook_inbox_state_received_at"), "webhook_inbox", ["state", "received_at"]
    )
    op.create_table(
        "webhook_registration",
        sa.Column("id", BigId, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("vendor_webhook_id", sa.String(128), nullable=True),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("expires_at", Utc(), nullable=True),
        sa.Column("created_at", Utc(), nullable=False),
        sa.Column("updated_at", Utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_webhook_registration_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_registration")),
    )
    op.create_index(
        op.f("ix_webhook_registration_connection_id_state"),
        "webhook_registration",
        ["connection_id", "state"],
    )
    op.create_table(
        "sync_schedule",
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("next_incremental_at", Utc(), nullable=False),
        sa.Column("next_census_at", Utc(), nullable=False),
        sa.Column("last_incremental_at", Utc(), nullable=True),
        sa.Column("last_census_at", Utc(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", Utc(), nullable=True),
        sa.Column("current_run_id", BigId, nullable=True),
        sa.Column("updated_at", Utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_sync_schedule_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["current_run_id"],
            ["sync_run.id"],
            name=op.f("fk_sync_schedule_current_run_id_sync_run"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_sync_schedule")),
    )
    op.create_index(op.f("ix_sync_schedule_lease_until"), "sync_schedule", ["lease_until"])


def downgrade() -> None:
    op.drop_table("sync_schedule")
    op.drop_table("webhook_registration")
    op.drop_table("webhook_inbox")
