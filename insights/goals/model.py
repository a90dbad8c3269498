"""The words of SMART goals: metrics, statuses, verdicts, and a goal as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row

from sync.store.goal_tables import Goal
from sync.store.goals import ScopeSelector


class Metric(StrEnum):
    ITEMS_DONE = "items_done"
    POINTS_DONE = "points_done"
    MILESTONES_REACHED = "milestones_reached"
    NUMERIC = "numeric"


class GoalStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ACHIEVED = "achieved"
    MISSED = "missed"
    CANCELLED = "cancelled"


class ProgressFrom(StrEnum):
    """Where a goal's progress comes from: its own scope (or measurements), or its children."""

    SCOPE = "scope"
    CHILDREN = "children"


class RollupStatus(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    ACHIEVED = "achieved"


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    WARN = "warn"
    FAIL = "fail"


#: Variance (progress - expected progress) below which a goal is at risk / off track, unless
#: the goal sets its own thresholds.
DEFAULT_AT_RISK_BELOW = -0.10
DEFAULT_OFF_TRACK_BELOW = -0.25
#: A source synced longer ago than this is stale: its numbers may have moved since.
FRESH_FOR = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Thresholds:
    at_risk_below: float = DEFAULT_AT_RISK_BELOW
    off_track_below: float = DEFAULT_OFF_TRACK_BELOW


@dataclass(frozen=True, slots=True)
class GoalDef:
    """A goal as the domain logic sees it: no session, no ORM."""

    id: int
    title: str
    metric: Metric
    baseline: float
    target: float | None
    status: GoalStatus
    selectors: tuple[ScopeSelector, ...] = ()
    description: str | None = None
    owner: str | None = None
    unit: str | None = None
    start_date: date | None = None
    due_date: date | None = None
    parent_id: int | None = None
    weight: float = 1.0
    relevance: str | None = None
    confidence: float | None = None
    progress_from: ProgressFrom = ProgressFrom.SCOPE
    thresholds: Thresholds = Thresholds()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Goal | Row[Any], selectors: list[ScopeSelector]) -> GoalDef:
        return cls(
            id=row.id,
            title=row.title,
            metric=Metric(row.metric),
            baseline=row.baseline,
            target=row.target,
            status=GoalStatus(row.status),
            selectors=tuple(selectors),
            description=row.description,
            owner=row.owner,
            unit=row.unit,
            start_date=row.start_date,
            due_date=row.due_date,
            parent_id=row.parent_id,
            weight=row.weight,
            relevance=row.relevance,
            confidence=row.confidence,
            progress_from=ProgressFrom(row.progress_from),
            thresholds=Thresholds(
                DEFAULT_AT_RISK_BELOW if row.at_risk_below is None else row.at_risk_below,
                DEFAULT_OFF_TRACK_BELOW if row.off_track_below is None else row.off_track_below,
            ),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @property
    def from_children(self) -> bool:
        return self.progress_from is ProgressFrom.CHILDREN

    @property
    def counts_milestones(self) -> bool:
        return self.metric is Metric.MILESTONES_REACHED
