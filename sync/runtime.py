"""Process-wide settings for pmbridge's long-running commands (serve, worker, sync, demo)."""

from __future__ import annotations

import gc

#: Allocations (net) before a young-generation collection, and young/middle collections
#: before the next older one. CPython's defaults (700, 10, 10) suit small scripts; a sync
#: allocates thousands of short-lived objects per page (payload models, rows, parameters)
#: and kept collecting them: bench/sync_jira.py ran 15-20% faster with these.
GC_THRESHOLDS = (10_000, 20, 20)


def tune_garbage_collector() -> None:
    """Call once, after start-up imports: the imported libraries (SQLAlchemy, pydantic,
    FastAPI) are hundreds of thousands of long-lived objects that every full collection
    would otherwise walk again; ``gc.freeze`` moves them out of its way. Reference cycles
    are still collected, only less often."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
