"""A covering index for goal scopes and rollups (measured in bench/rollups.py: about half
the time of a connection-wide rollup on SQLite, which otherwise reads every wide row).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
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
]


def upgrade() -> None:
    op.create_index("ix_work_item_scope", "work_item", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_work_item_scope", table_name="work_item")
