"""Shapes of /v1/risks and /v1/goals/{id}/risks: stable snake_case fields, ISO 8601 UTC."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.filters import BodyId
from insights.risks.live import AssessedSignal
from insights.risks.register import Response, RiskStatus, Roam, TargetType
from insights.risks.signals import Ref

Level = Field(ge=1, le=5, description="1 (rare, minor) to 5 (almost certain, severe)")


# -- signals -------------------------------------------------------------------------------
class RefOut(BaseModel):
    """Something a signal concerns; ``url`` links back to the tool (or to the goal)."""

    model_config = ConfigDict(from_attributes=True)

    type: str
    id: int
    title: str
    key: str | None
    url: str | None
    tool: str | None


class SignalOut(BaseModel):
    #: ``kind:subject_type:subject_id``: what POST /v1/risks/from-signal takes.
    key: str
    kind: str
    severity: str
    subject: RefOut
    reason: str
    #: When the condition began; null when the data does not date it.
    since: datetime | None
    suggested_probability: int
    suggested_impact: int
    suggested_score: int
    connection_id: int | None
    connection_name: str | None
    tool: str | None
    project_id: int | None
    project_name: str | None
    items: list[RefOut]
    milestones: list[RefOut]
    goals: list[RefOut]
    #: The numbers behind the reason.
    facts: dict[str, Any]
    #: Open risks covering the signal; empty means unmanaged.
    covered_by: list[int]
    managed: bool

    @classmethod
    def of(cls, assessed: AssessedSignal) -> SignalOut:
        signal = assessed.signal

        def refs(values: tuple[Ref, ...]) -> list[RefOut]:
            return [RefOut.model_validate(r) for r in values]

        return cls(
            key=signal.key,
            kind=signal.kind.value,
            severity=assessed.severity.value,
            subject=RefOut.model_validate(signal.subject),
            reason=signal.reason,
            since=signal.since,
            suggested_probability=signal.probability,
            suggested_impact=signal.impact,
            suggested_score=signal.score,
            connection_id=signal.connection_id,
            connection_name=signal.connection_name,
            tool=signal.tool,
            project_id=signal.project_id,
            project_name=signal.project_name,
            items=refs(signal.items),
            milestones=refs(signal.milestones),
            goals=refs(signal.goals),
            facts=dict(signal.facts),
            covered_by=list(assessed.covered_by),
            managed=assessed.managed,
        )

    def csv_row(self) -> dict[str, Any]:
        return {
            **self.model_dump(exclude={"subject", "items", "milestones", "goals", "facts"}),
            "subject_type": self.subject.type,
            "subject_id": self.subject.id,
            "subject_title": self.subject.title,
            "subject_key": self.subject.key,
            "subject_url": self.subject.url,
            "item_ids": [r.id for r in self.items],
            "milestone_ids": [r.id for r in self.milestones],
            "goal_ids": [r.id for r in self.goals],
        }


SIGNAL_CSV_COLUMNS = (
    "key",
    "kind",
    "severity",
    "subject_type",
    "subject_id",
    "subject_title",
    "subject_key",
    "subject_url",
    "reason",
    "since",
    "suggested_probability",
    "suggested_impact",
    "suggested_score",
    "connection_id",
    "connection_name",
    "tool",
    "project_id",
    "project_name",
    "item_ids",
    "milestone_ids",
    "goal_ids",
    "covered_by",
    "managed",
)


class SignalList(BaseModel):
    as_of: datetime
    count: int
    unmanaged: int
    data: list[SignalOut]


# -- the register --------------------------------------------------------------------------
class ContingencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The condition that puts the plan into action.
    trigger: str | None = Field(default=None, max_length=5000)
    measures: str | None = Field(default=None, max_length=5000)
    owner: str | None = Field(default=None, max_length=320)
    steps: list[str] = Field(default_factory=list, max_length=100)

    def flat(self, only_set: bool = False) -> dict[str, Any]:
        names = self.model_fields_set if only_set else set(type(self).model_fields)
        return {f"contingency_{name}": getattr(self, name) for name in names}


NO_CONTINGENCY: dict[str, Any] = {
    "contingency_trigger": None,
    "contingency_measures": None,
    "contingency_owner": None,
    "contingency_steps": [],
}


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_type: TargetType
    target_id: BodyId


class RiskFields(BaseModel):
    """What a person may set on a risk; every field optional (PATCH, and promotion's
    overrides of a signal's suggestions)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20000)
    category: str | None = Field(default=None, max_length=64)
    probability: int | None = Field(default=None, ge=1, le=5)
    impact: int | None = Field(default=None, ge=1, le=5)
    owner: str | None = Field(default=None, max_length=320)
    response: Response | None = None
    roam: Roam | None = None
    status: RiskStatus | None = None
    review_date: date | None = None
    residual_probability: int | None = Field(default=None, ge=1, le=5)
    residual_impact: int | None = Field(default=None, ge=1, le=5)
    contingency: ContingencyIn | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the request named; ``contingency: null`` removes the plan, a
        contingency object changes only the parts it names."""
        result: dict[str, Any] = {}
        for name in self.model_fields_set & set(RiskFields.model_fields):
            if name == "contingency":
                plan = self.contingency
                result |= NO_CONTINGENCY if plan is None else plan.flat(only_set=True)
            else:
                result[name] = getattr(self, name)
        return result


class RiskPatch(RiskFields):
    #: When given, the risk's links become exactly these.
    links: list[LinkIn] | None = None


class RiskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20000)
    category: str | None = Field(default=None, max_length=64)
    probability: int = Level
    impact: int = Level
    owner: str | None = Field(default=None, max_length=320)
    response: Response | None = None
    roam: Roam | None = None
    status: RiskStatus = RiskStatus.OPEN
    review_date: date | None = None
    residual_probability: int | None = Field(default=None, ge=1, le=5)
    residual_impact: int | None = Field(default=None, ge=1, le=5)
    #: Required (complete) for open risks at or above the high band.
    contingency: ContingencyIn | None = None
    links: list[LinkIn] = Field(default_factory=list)

    def values(self) -> dict[str, Any]:
        values = self.model_dump(exclude={"contingency", "links"})
        return values | (NO_CONTINGENCY if self.contingency is None else self.contingency.flat())


class PromoteIn(RiskFields):
    #: The key of a signal firing now (GET /v1/risks/signals).
    signal_key: str = Field(min_length=1, max_length=160)
    #: Judge the signal by this goal's thresholds (as its goal view does) and link the goal.
    goal_id: BodyId | None = None
    #: Links besides those of the signal.
    links: list[LinkIn] = Field(default_factory=list)


class ContingencyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    trigger: str | None
    measures: str | None
    owner: str | None
    steps: list[str]


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    target_type: str
    target_id: int
    #: False when the target no longer exists.
    exists: bool
    title: str | None
    key: str | None
    url: str | None
    tool: str | None


class RiskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str | None
    category: str | None
    probability: int
    impact: int
    score: int
    severity: str
    owner: str | None
    response: str | None
    roam: str | None
    status: str
    review_date: date | None
    review_overdue: bool
    residual_probability: int | None
    residual_impact: int | None
    residual_score: int | None
    residual_severity: str | None
    contingency: ContingencyOut | None
    #: Whether the risk's band requires a contingency plan.
    contingency_required: bool
    links: list[LinkOut]
    source_signal_key: str | None
    #: The signal as it read when the risk was promoted from it.
    source_signal: dict[str, Any] | None
    #: Whether that signal still fires (GET /v1/risks/{id} and the goal view; else null).
    source_signal_active: bool | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None
    closed_at: datetime | None

    def csv_row(self) -> dict[str, Any]:
        plan = self.contingency
        return {
            **self.model_dump(exclude={"contingency", "links", "source_signal"}),
            "contingency_trigger": plan.trigger if plan else None,
            "contingency_measures": plan.measures if plan else None,
            "contingency_owner": plan.owner if plan else None,
            "contingency_steps": plan.steps if plan else [],
            "links": [f"{link.target_type}:{link.target_id}" for link in self.links],
        }


RISK_CSV_COLUMNS = (
    "id",
    "title",
    "description",
    "category",
    "probability",
    "impact",
    "score",
    "severity",
    "owner",
    "response",
    "roam",
    "status",
    "review_date",
    "review_overdue",
    "residual_probability",
    "residual_impact",
    "residual_score",
    "residual_severity",
    "contingency_required",
    "contingency_trigger",
    "contingency_measures",
    "contingency_owner",
    "contingency_steps",
    "links",
    "source_signal_key",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "closed_at",
)


class RiskPage(BaseModel):
    data: list[RiskOut]
    next_cursor: str | None


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    changed_at: datetime
    #: The API key that made the change.
    changed_by: str | None
    #: created, promoted or updated.
    action: str
    #: ``{field: {"old", "new"}}``; links as ``{"added": [...], "removed": [...]}``.
    changes: dict[str, Any]


class HistoryOut(BaseModel):
    risk_id: int
    data: list[ChangeOut]


# -- matrix --------------------------------------------------------------------------------
class CellOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    probability: int
    impact: int
    score: int
    severity: str
    count: int
    risk_ids: list[int]


class GridOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cells: list[CellOut]
    total: int
    by_severity: dict[str, int]


class MatrixOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    as_of: date
    goal_ids: list[int]
    inherent: GridOut
    residual: GridOut
    residual_unassessed: list[int]


# -- goals ---------------------------------------------------------------------------------
class ThresholdsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    due_soon_days: int
    stale_days: int
    scope_creep_pct: float
    forecast_slip_days: int


class ThresholdsIn(BaseModel):
    """A goal's overrides; a field left out or null follows the global setting."""

    model_config = ConfigDict(extra="forbid")

    due_soon_days: int | None = Field(default=None, ge=0, le=365)
    stale_days: int | None = Field(default=None, ge=1, le=3650)
    scope_creep_pct: float | None = Field(default=None, gt=0, le=10000)
    forecast_slip_days: int | None = Field(default=None, ge=0, le=3650)


class GoalThresholdsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    goal_id: int
    overrides: ThresholdsIn
    effective: ThresholdsOut
    defaults: ThresholdsOut


class GoalRollupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: str | None
    status_reason: str
    progress: float | None
    expected_progress: float | None
    variance: float | None


class GoalRisksOut(BaseModel):
    goal_id: int
    title: str
    as_of: datetime
    rollup: GoalRollupOut
    thresholds: ThresholdsOut
    open_risks: int
    review_overdue: int
    unmanaged_signals: int
    risks: list[RiskOut]
    signals: list[SignalOut]
