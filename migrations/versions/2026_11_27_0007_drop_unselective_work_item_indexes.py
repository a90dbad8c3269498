"""Drop two work_item indexes that cost every sync write and serve no query well.

- ``ix_work_item_tool``: a connection has one tool, so the index has a handful of distinct
  values; a tool filter reads a fifth of the table or more, which neither SQLite nor
  PostgreSQL does through an index.
- ``ix_work_item_connection_id_status_category``: ``ix_work_item_scope`` (0006) starts with
  the connection too and carries the status category, so it answers the same queries
  without touching the rows.

Measured in bench/sync_jira.py: the secondary indexes are a large share of a 100k-issue
sync's SQLite time; these two bought nothing for it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_work_item_tool", table_name="work_item")
    op.drop_index("ix_work_item_connection_id_status_category", table_name="work_item")


def downgrade() -> None:
    op.create_index(
        "ix_work_item_connection_id_status_category",
        "work_item",
        ["connection_id", "status_category"],
    )
    op.create_index("ix_work_item_tool", "work_item", ["tool"])
