"""Shapes of GET /v1/progress."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class Freshness(BaseModel):
    connection_id: int
    connection_name: str
    tool: str
    state: str
    last_success_at: datetime | None
    #: Seconds since the last successful sync; null if it never succeeded.
    age_seconds: float | None


class ProgressGroupOut(BaseModel):
    key: str | None
    label: str | None
    total: int
    todo: int
    in_progress: int
    done: int
    cancelled: int
    #: done / (total - cancelled); null when nothing is left to count.
    done_pct: float | None
    points_total: float
    points_done: float
    done_pct_points: float | None
    overdue: int
    freshness: list[Freshness]


class ProgressOut(BaseModel):
    group_by: str
    as_of: date
    groups: list[ProgressGroupOut]
