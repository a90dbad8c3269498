"""Shapes of /v1/goals: goals and their scope, rollups with provenance, SMART checks,
forecasts, measurements and burn-up history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.filters import BodyId
from insights.goals.definitions import SelectorDraft
from insights.goals.model import GoalDef, GoalStatus, Metric, ProgressFrom
from sync.errors import InvalidRequest
from sync.store.goals import ScopeSelector


# -- goals ---------------------------------------------------------------------------------
class SelectorIn(BaseModel):
    """Picks work items (or, for milestones_reached, milestones). Every field given must
    match; a goal's selectors combine with OR, and an item matched twice counts once."""

    model_config = ConfigDict(extra="forbid")

    connection_id: BodyId | None = None
    project_id: BodyId | None = None
    milestone_id: BodyId | None = None
    assignee_id: BodyId | None = None
    assignee_email: str | None = Field(default=None, description="instead of assignee_id")
    labels: list[str] = Field(default_factory=list, description="the item carries all of them")
    item_types: list[str] = Field(
        default_factory=list, description="the item's type is one of them"
    )

    def draft(self) -> SelectorDraft:
        return SelectorDraft(
            connection_id=self.connection_id,
            project_id=self.project_id,
            milestone_id=self.milestone_id,
            assignee_id=self.assignee_id,
            assignee_email=self.assignee_email,
            labels=tuple(self.labels),
            item_types=tuple(self.item_types),
        )


class SelectorOut(BaseModel):
    connection_id: int | None
    project_id: int | None
    milestone_id: int | None
    assignee_id: int | None
    labels: list[str]
    item_types: list[str]

    @classmethod
    def of(cls, s: ScopeSelector) -> SelectorOut:
        return cls(
            connection_id=s.connection_id,
            project_id=s.project_id,
            milestone_id=s.milestone_id,
            assignee_id=s.assignee_id,
            labels=list(s.labels),
            item_types=list(s.item_types),
        )


class GoalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    title: str = Field(min_length=1, max_length=200)
    description: str | None = None
    owner: str | None = Field(default=None, max_length=320, description="name or e-mail")
    metric: Metric
    unit: str | None = Field(default=None, max_length=64)
    baseline: float = 0.0
    target: float | None = Field(
        default=None, description="null: all of the scope (item and milestone metrics)"
    )
    start_date: date | None = None
    due_date: date | None = None
    parent_id: BodyId | None = None
    weight: float = Field(default=1.0, gt=0, description="weight in the parent's rollup")
    relevance: str | None = Field(default=None, description="why this goal matters")
    status: GoalStatus = GoalStatus.DRAFT
    confidence: float | None = Field(default=None, ge=0, le=1)
    progress_from: ProgressFrom = Field(
        default=ProgressFrom.SCOPE, description="scope, or children (weighted)"
    )
    at_risk_below: float | None = Field(
        default=None, description="variance below which the goal is at risk (default -0.1)"
    )
    off_track_below: float | None = Field(
        default=None, description="variance below which it is off track (default -0.25)"
    )
    scope: list[SelectorIn] = Field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude={"scope"})

    def drafts(self) -> list[SelectorDraft]:
        return [s.draft() for s in self.scope]


class GoalPatch(BaseModel):
    """Only the fields sent change; ``scope``, when sent, replaces the whole scope."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    owner: str | None = Field(default=None, max_length=320)
    metric: Metric | None = None
    unit: str | None = Field(default=None, max_length=64)
    baseline: float | None = None
    target: float | None = None
    start_date: date | None = None
    due_date: date | None = None
    parent_id: BodyId | None = None
    weight: float | None = Field(default=None, gt=0)
    relevance: str | None = None
    status: GoalStatus | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    progress_from: ProgressFrom | None = None
    at_risk_below: float | None = None
    off_track_below: float | None = None
    scope: list[SelectorIn] | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(include=self.model_fields_set - {"scope"})

    def drafts(self) -> list[SelectorDraft] | None:
        if "scope" not in self.model_fields_set:
            return None
        if self.scope is None:
            raise InvalidRequest("scope cannot be null: send [] for no scope", field="scope")
        return [s.draft() for s in self.scope]


# -- rollups -------------------------------------------------------------------------------
class ExclusionsOut(BaseModel):
    deleted: int
    access_lost: int
    cancelled: int


class SourceOut(BaseModel):
    tool: str
    connection_id: int
    connection_name: str | None
    project_id: int | None
    project_name: str | None
    #: Items (or milestones) counted: live and not cancelled.
    items: int
    done: int
    points: float
    points_done: float
    #: This source's part of the current value, and its share of it.
    contribution: float
    share: float | None
    excluded: ExclusionsOut


class FreshnessOut(BaseModel):
    connection_id: int
    connection_name: str
    tool: str
    state: str
    last_success_at: datetime | None
    age_seconds: float | None
    fresh: bool


class ChildOut(BaseModel):
    goal_id: int
    title: str
    weight: float
    progress: float | None
    expected_progress: float | None
    status: str | None
    #: This child's part of the parent's progress; they add up to it.
    contribution: float | None


class MeasurementRefOut(BaseModel):
    value: float
    measured_at: datetime
    source: str | None


class RollupOut(BaseModel):
    goal_id: int
    title: str
    metric: str
    unit: str | None
    goal_status: str
    as_of: date
    computed_at: datetime
    baseline: float
    target: float | None
    target_from_scope: bool
    current: float
    #: (current - baseline) / (target - baseline).
    progress: float | None
    expected_progress: float | None
    #: progress - expected_progress.
    variance: float | None
    status: str | None
    status_reason: str
    plan: str | None
    at_risk_below: float
    off_track_below: float
    counts: str
    scope_items: int
    done_items: int
    points_total: float
    points_done: float
    estimated_items: int
    sources: list[SourceOut]
    exclusions: ExclusionsOut
    freshness: list[FreshnessOut]
    children: list[ChildOut]
    measurement: MeasurementRefOut | None
    #: True when served from the snapshot of ``as_of`` rather than computed now.
    from_snapshot: bool


class LetterOut(BaseModel):
    letter: str
    name: str
    verdict: str
    reasons: list[str]


class SmartOut(BaseModel):
    goal_id: int
    as_of: datetime
    #: No letter fails (warnings allowed).
    smart: bool
    verdict: str
    checks: list[LetterOut]


class GoalOut(BaseModel):
    id: int
    title: str
    description: str | None
    owner: str | None
    metric: str
    unit: str | None
    baseline: float
    target: float | None
    start_date: date | None
    due_date: date | None
    parent_id: int | None
    weight: float
    relevance: str | None
    status: str
    confidence: float | None
    progress_from: str
    #: The thresholds in force (the defaults unless the goal sets its own).
    at_risk_below: float
    off_track_below: float
    scope: list[SelectorOut]
    created_at: datetime | None
    updated_at: datetime | None
    #: With ``include=rollup``.
    rollup: RollupOut | None = None
    #: On writes that leave the goal active: whether it is SMART, and why not.
    smart: SmartOut | None = None

    @classmethod
    def of(
        cls, goal: GoalDef, *, rollup: RollupOut | None = None, smart: SmartOut | None = None
    ) -> GoalOut:
        return cls(
            id=goal.id,
            title=goal.title,
            description=goal.description,
            owner=goal.owner,
            metric=goal.metric.value,
            unit=goal.unit,
            baseline=goal.baseline,
            target=goal.target,
            start_date=goal.start_date,
            due_date=goal.due_date,
            parent_id=goal.parent_id,
            weight=goal.weight,
            relevance=goal.relevance,
            status=goal.status.value,
            confidence=goal.confidence,
            progress_from=goal.progress_from.value,
            at_risk_below=goal.thresholds.at_risk_below,
            off_track_below=goal.thresholds.off_track_below,
            scope=[SelectorOut.of(s) for s in goal.selectors],
            created_at=goal.created_at,
            updated_at=goal.updated_at,
            rollup=rollup,
            smart=smart,
        )


class GoalPage(BaseModel):
    data: list[GoalOut]
    next_cursor: str | None


#: The portfolio as CSV: one row per goal, its definition and (with include=rollup) rollup.
CSV_GOAL_COLUMNS = (
    "id",
    "title",
    "owner",
    "metric",
    "unit",
    "baseline",
    "target",
    "start_date",
    "due_date",
    "parent_id",
    "weight",
    "status",
    "confidence",
)
CSV_ROLLUP_COLUMNS = (
    "as_of",
    "current",
    "rollup_target",
    "progress",
    "expected_progress",
    "variance",
    "rollup_status",
    "scope_items",
    "done_items",
    "points_total",
    "points_done",
    "excluded_deleted",
    "excluded_access_lost",
    "excluded_cancelled",
    "stale_sources",
)


def csv_row(goal: GoalOut) -> dict[str, Any]:
    row = goal.model_dump(include=set(CSV_GOAL_COLUMNS))
    r = goal.rollup
    if r is not None:
        row |= {
            "as_of": r.as_of,
            "current": r.current,
            "rollup_target": r.target,
            "progress": r.progress,
            "expected_progress": r.expected_progress,
            "variance": r.variance,
            "rollup_status": r.status,
            "scope_items": r.scope_items,
            "done_items": r.done_items,
            "points_total": r.points_total,
            "points_done": r.points_done,
            "excluded_deleted": r.exclusions.deleted,
            "excluded_access_lost": r.exclusions.access_lost,
            "excluded_cancelled": r.exclusions.cancelled,
            "stale_sources": [f.connection_name for f in r.freshness if not f.fresh],
        }
    return row


# -- measurements, forecasts, history ------------------------------------------------------
class MeasurementIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    value: float
    measured_at: AwareDatetime
    source: str | None = Field(default=None, max_length=100, description="e.g. crm, sheet")
    note: str | None = None


class MeasurementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    goal_id: int
    value: float
    measured_at: datetime
    source: str | None
    note: str | None
    recorded_at: datetime


class DailyOut(BaseModel):
    day: date
    value: float


class ForecastOut(BaseModel):
    goal_id: int
    metric: str
    as_of: date
    #: forecast, achieved, stalled, insufficient_history, no_target or not_applicable.
    verdict: str
    reason: str
    window_days: int
    history_days: int
    trials: int
    seed: int
    current: float | None
    target: float | None
    remaining: float | None
    due_date: date | None
    days_left: int | None
    completed_in_window: float
    recent_pace_per_week: float | None
    pace_needed_per_week: float | None
    p50_date: date | None
    p85_date: date | None
    probability_by_due: float | None
    daily: list[DailyOut]


class BurnupPointOut(BaseModel):
    day: date
    value: float
    scope: float | None
    target: float | None
    planned: float | None
    progress: float | None
    expected_progress: float | None
    status: str | None
    scope_items: int
    done_items: int
    scope_points: float
    done_points: float


class HistoryOut(BaseModel):
    goal_id: int
    metric: str
    unit: str | None
    baseline: float
    start: date
    end: date
    points: list[BurnupPointOut]


class SnapshotsOut(BaseModel):
    day: date
    taken: int
