"""SMART goals: goals, their scope selectors, measurements and daily snapshots.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def Utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "goal",
        sa.Column("id", BigId, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(320), nullable=True),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("parent_id", BigId, nullable=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("relevance", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("progress_from", sa.String(16), nullable=False),
        sa.Column("at_risk_below", sa.Float(), nullable=True),
        sa.Column("off_track_below", sa.Float(), nullable=True),
        sa.Column("created_at", Utc(), nullable=False),
        sa.Column("updated_at", Utc(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["goal.id"], name=op.f("fk_goal_parent_id_goal")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal")),
    )
    op.create_index(op.f("ix_goal_parent_id"), "goal", ["parent_id"])
    op.create_index(op.f("ix_goal_status"), "goal", ["status"])
    op.create_table(
        "goal_selector",
        sa.Column("id", BigId, nullable=False),
        sa.Column("goal_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("connection_id", BigId, nullable=True),
        sa.Column("project_id", BigId, nullable=True),
        sa.Column("milestone_id", BigId, nullable=True),
        sa.Column("assignee_id", BigId, nullable=True),
        sa.Column("labels", Json, nullable=False),
        sa.Column("item_types", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["goal.id"],
            name=op.f("fk_goal_selector_goal_id_goal"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_goal_selector_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_goal_selector_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["milestone_id"],
            ["milestone.id"],
            name=op.f("fk_goal_selector_milestone_id_milestone"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["person.id"],
            name=op.f("fk_goal_selector_assignee_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_selector")),
    )
    op.create_index(op.f("ix_goal_selector_goal_id"), "goal_selector", ["goal_id"])
    op.create_table(
        "goal_measurement",
        sa.Column("id", BigId, nullable=False),
        sa.Column("goal_id", BigId, nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("measured_at", Utc(), nullable=False),
        sa.Column("source", sa.String(100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", Utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["goal.id"],
            name=op.f("fk_goal_measurement_goal_id_goal"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_measurement")),
    )
    op.create_index(
        op.f("ix_goal_measurement_goal_id_measured_at"),
        "goal_measurement",
        ["goal_id", "measured_at"],
    )
    op.create_table(
        "goal_snapshot",
        sa.Column("id", BigId, nullable=False),
        sa.Column("goal_id", BigId, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("taken_at", Utc(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("expected_progress", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("scope_items", sa.Integer(), nullable=False),
        sa.Column("done_items", sa.Integer(), nullable=False),
        sa.Column("scope_points", sa.Float(), nullable=False),
        sa.Column("done_points", sa.Float(), nullable=False),
        sa.Column("rollup", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["goal.id"],
            name=op.f("fk_goal_snapshot_goal_id_goal"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_snapshot")),
        sa.UniqueConstraint("goal_id", "day", name=op.f("uq_goal_snapshot_goal_id_day")),
    )


def downgrade() -> None:
    for table in ("goal_snapshot", "goal_measurement", "goal_selector", "goal"):
        op.drop_table(table)
