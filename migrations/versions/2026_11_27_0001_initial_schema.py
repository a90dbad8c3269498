"""Initial schema: connections, the unified records, history, sync runs and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def Utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _lifecycle() -> list[sa.Column[Any]]:
    """Columns every vendor-record table shares."""
    return [
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("deleted_at", Utc(), nullable=True),
        sa.Column("access_lost_at", Utc(), nullable=True),
        sa.Column("first_seen_at", Utc(), nullable=False),
        sa.Column("recorded_at", Utc(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "connection",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("tool", sa.String(16), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("credentials", sa.LargeBinary(), nullable=False),
        sa.Column("scope", Json, nullable=False),
        sa.Column("options", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("throttled_until", Utc(), nullable=True),
        sa.Column("last_success_at", Utc(), nullable=True),
        sa.Column("created_at", Utc(), nullable=False),
        sa.Column("updated_at", Utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection")),
        sa.UniqueConstraint("name", name=op.f("uq_connection_name")),
    )
    op.create_table(
        "person",
        sa.Column("id", BigId, nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("created_at", Utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("email", name=op.f("uq_person_email")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", Json, nullable=False),
        sa.Column("created_at", Utc(), nullable=False),
        sa.Column("last_used_at", Utc(), nullable=True),
        sa.Column("revoked_at", Utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("name", name=op.f("uq_api_key_name")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    op.create_table(
        "person_identity",
        sa.Column("id", BigId, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("vendor_id", sa.String(128), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_person_identity_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_person_identity_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_identity")),
        sa.UniqueConstraint(
            "connection_id", "vendor_id", name=op.f("uq_person_identity_connection_id_vendor_id")
        ),
    )
    op.create_index(op.f("ix_person_identity_person_id"), "person_identity", ["person_id"])
    op.create_table(
        "project",
        sa.Column("id", BigId, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("vendor_id", sa.String(128), nullable=False),
        sa.Column("key", sa.String(128), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        *_lifecycle(),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_project_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint(
            "connection_id", "vendor_id", name=op.f("uq_project_connection_id_vendor_id")
        ),
    )
    op.create_index(op.f("ix_project_recorded_at"), "project", ["recorded_at"])
    op.create_table(
        "milestone",
        sa.Column("id", BigId, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("vendor_id", sa.String(128), nullable=False),
        sa.Column("project_id", BigId, nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("reached", sa.Boolean(), nullable=False),
        sa.Column("reached_at", Utc(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        *_lifecycle(),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_milestone_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_milestone_project_id_project"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestone")),
        sa.UniqueConstraint(
            "connection_id", "vendor_id", name=op.f("uq_milestone_connection_id_vendor_id")
        ),
    )
    op.create_index(op.f("ix_milestone_project_id"), "milestone", ["project_id"])
    op.create_index(op.f("ix_milestone_due_date"), "milestone", ["due_date"])
    op.create_index(op.f("ix_milestone_recorded_at"), "milestone", ["recorded_at"])
    op.create_table(
        "work_item",
        sa.Column("id", BigId, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("tool", sa.String(16), nullable=False),
        sa.Column("vendor_id", sa.String(128), nullable=False),
        sa.Column("key", sa.String(128), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("project_id", BigId, nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("item_type", sa.String(128), nullable=True),
        sa.Column("status_name", sa.String(200), nullable=True),
        sa.Column("status_category", sa.String(16), nullable=False),
        sa.Column("assignee_id", BigId, nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("created_at", Utc(), nullable=True),
        sa.Column("vendor_updated_at", Utc(), nullable=False),
        sa.Column("completed_at", Utc(), nullable=True),
        sa.Column("estimate", sa.Float(), nullable=True),
        sa.Column("labels", Json, nullable=False),
        sa.Column("priority", sa.String(64), nullable=True),
        sa.Column("parent_vendor_id", sa.String(128), nullable=True),
        sa.Column("milestone_id", BigId, nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        *_lifecycle(),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_work_item_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_work_item_project_id_project"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["person.id"],
            name=op.f("fk_work_item_assignee_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["milestone_id"],
            ["milestone.id"],
            name=op.f("fk_work_item_milestone_id_milestone"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_item")),
        sa.UniqueConstraint(
            "connection_id", "vendor_id", name=op.f("uq_work_item_connection_id_vendor_id")
        ),
    )
    # Each index serves a /v1 filter or the progress grouping.
    op.create_index(
        op.f("ix_work_item_connection_id_status_category"),
        "work_item",
        ["connection_id", "status_category"],
    )
    for column in ("tool", "project_id", "assignee_id", "due_date", "milestone_id", "recorded_at"):
        op.create_index(op.f(f"ix_work_item_{column}"), "work_item", [column])
    op.create_table(
        "sync_run",
        sa.Column("id", BigId, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", Utc(), nullable=False),
        sa.Column("finished_at", Utc(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("upserted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("access_lost", sa.Integer(), nullable=False),
        sa.Column("vendor_count", sa.Integer(), nullable=True),
        sa.Column("stored_count", sa.Integer(), nullable=True),
        sa.Column("errors", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_sync_run_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_run")),
    )
    op.create_index(
        op.f("ix_sync_run_connection_id_started_at"), "sync_run", ["connection_id", "started_at"]
    )
    op.create_table(
        "item_change",
        sa.Column("id", BigId, nullable=False),
        sa.Column("work_item_id", BigId, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("changed_at", Utc(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("sync_run_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_item.id"],
            name=op.f("fk_item_change_work_item_id_work_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_item_change_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["sync_run.id"],
            name=op.f("fk_item_change_sync_run_id_sync_run"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_change")),
    )
    op.create_index(
        op.f("ix_item_change_work_item_id_changed_at"),
        "item_change",
        ["work_item_id", "changed_at"],
    )
    op.create_index(op.f("ix_item_change_connection_id"), "item_change", ["connection_id"])
    op.create_table(
        "sync_cursor",
        sa.Column("id", BigId, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("value", Json, nullable=False),
        sa.Column("updated_at", Utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_sync_cursor_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_cursor")),
        sa.UniqueConstraint(
            "connection_id", "resource", name=op.f("uq_sync_cursor_connection_id_resource")
        ),
    )
    op.create_table(
        "census_seen",
        sa.Column("sync_run_id", BigId, nullable=False),
        sa.Column("vendor_id", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["sync_run.id"],
            name=op.f("fk_census_seen_sync_run_id_sync_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sync_run_id", "vendor_id", name=op.f("pk_census_seen")),
    )


def downgrade() -> None:
    for table in (
        "census_seen",
        "sync_cursor",
        "item_change",
        "sync_run",
        "work_item",
        "milestone",
        "project",
        "person_identity",
        "api_key",
        "person",
        "connection",
    ):
        op.drop_table(table)
