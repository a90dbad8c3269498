"""Risks: the register, its change history, its links, per-goal signal thresholds.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def Utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "risk",
        sa.Column("id", BigId, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("probability", sa.Integer(), nullable=False),
        sa.Column("impact", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(320), nullable=True),
        sa.Column("response", sa.String(16), nullable=True),
        sa.Column("roam", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("residual_probability", sa.Integer(), nullable=True),
        sa.Column("residual_impact", sa.Integer(), nullable=True),
        sa.Column("residual_score", sa.Integer(), nullable=True),
        sa.Column("contingency_trigger", sa.Text(), nullable=True),
        sa.Column("contingency_measures", sa.Text(), nullable=True),
        sa.Column("contingency_owner", sa.String(320), nullable=True),
        sa.Column("contingency_steps", Json, nullable=False),
        sa.Column("source_signal_key", sa.String(160), nullable=True),
        sa.Column("source_signal", Json, nullable=True),
        sa.Column("created_at", Utc(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=True),
        sa.Column("updated_at", Utc(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=True),
        sa.Column("closed_at", Utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk")),
    )
    op.create_index(op.f("ix_risk_score"), "risk", ["score"])
    op.create_index(op.f("ix_risk_status"), "risk", ["status"])
    op.create_index(op.f("ix_risk_source_signal_key"), "risk", ["source_signal_key"])
    op.create_index(op.f("ix_risk_updated_at"), "risk", ["updated_at"])
    op.create_table(
        "risk_link",
        sa.Column("id", BigId, nullable=False),
        sa.Column("risk_id", BigId, nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", BigId, nullable=False),
        sa.Column("created_at", Utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["risk_id"], ["risk.id"], name=op.f("fk_risk_link_risk_id_risk"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_link")),
        sa.UniqueConstraint(
            "risk_id",
            "target_type",
            "target_id",
            name=op.f("uq_risk_link_risk_id_target_type_target_id"),
        ),
    )
    op.create_index(
        op.f("ix_risk_link_target_type_target_id"), "risk_link", ["target_type", "target_id"]
    )
    op.create_table(
        "risk_change",
        sa.Column("id", BigId, nullable=False),
        sa.Column("risk_id", BigId, nullable=False),
        sa.Column("changed_at", Utc(), nullable=False),
        sa.Column("changed_by", sa.String(100), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("changes", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["risk_id"], ["risk.id"], name=op.f("fk_risk_change_risk_id_risk"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_change")),
    )
    op.create_index(
        op.f("ix_risk_change_risk_id_changed_at"), "risk_change", ["risk_id", "changed_at"]
    )
    op.create_table(
        "risk_goal_threshold",
        sa.Column("goal_id", BigId, autoincrement=False, nullable=False),
        sa.Column("due_soon_days", sa.Integer(), nullable=True),
        sa.Column("stale_days", sa.Integer(), nullable=True),
        sa.Column("scope_creep_pct", sa.Float(), nullable=True),
        sa.Column("forecast_slip_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", Utc(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("goal_id", name=op.f("pk_risk_goal_threshold")),
    )


def downgrade() -> None:
    op.drop_table("risk_goal_threshold")
    op.drop_index(op.f("ix_risk_change_risk_id_changed_at"), table_name="risk_change")
    op.drop_table("risk_change")
    op.drop_index(op.f("ix_risk_link_target_type_target_id"), table_name="risk_link")
    op.drop_table("risk_link")
    op.drop_index(op.f("ix_risk_updated_at"), table_name="risk")
    op.drop_index(op.f("ix_risk_source_signal_key"), table_name="risk")
    op.drop_index(op.f("ix_risk_status"), table_name="risk")
    op.drop_index(op.f("ix_risk_score"), table_name="risk")
    op.drop_table("risk")
