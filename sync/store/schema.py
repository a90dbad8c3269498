"""The whole schema: every table module, imported so ``Base.metadata`` knows all tables.

Alembic's environment and the drift test read ``metadata`` from here. A new table module is
added to the imports below, one line each.
"""

from __future__ import annotations

from sync.store import (
    goal_tables,  # noqa: F401 - registers the SMART-goal tables
    inbox_tables,  # noqa: F401 - registers the webhook and worker tables
    risk_tables,  # noqa: F401 - registers the risk register tables
    tables,
)
from sync.store.tables import Base

metadata = Base.metadata

__all__ = ["metadata", "tables"]
