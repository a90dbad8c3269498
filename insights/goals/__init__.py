"""SMART goals: definitions, rollups with provenance, the SMART check, forecasts, history.

Pure logic over plain dataclasses with ``now`` passed in; the functions that read the store
live beside it. The worker's daily entry point is :func:`insights.goals.history.take_snapshots`.
"""

from __future__ import annotations

from insights.goals.history import take_snapshots

__all__ = ["take_snapshots"]
