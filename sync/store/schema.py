"""The whole schema: every table module, imported so ``Base.metadata`` knows all tables.

Alembic's environment and the drift test read ``metadata`` from here. A new table module is
added to the imports below, one line each.
"""

from __future__ import annotations

from sync.store import tables
from sync.store.tables import Base

metadata = Base.metadata

__all__ = ["metadata", "tables"]
