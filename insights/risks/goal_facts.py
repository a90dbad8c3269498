"""What risk signals and views need to know about goals, behind one small interface.

Goals are their own feature (``insights.goals``, ``sync.store.goals``). Risks read them only
through :class:`GoalFacts`, so the signals are tested with a fake and the binding to the
goals code is one class, :class:`StoreGoalFacts`, which uses the goals feature's public
functions only: scope selectors and the scope's SQL condition, daily snapshots (the scope
line), the rollup, and the Monte Carlo forecast.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.orm import Session

from insights.goals.forecast import forecast_goal
from insights.goals.model import GoalStatus, Metric
from insights.goals.rollup import RollupReader
from sync.store import goals as goal_store
from sync.store import risks as risk_store


@dataclass(frozen=True, slots=True)
class GoalInfo:
    id: int
    title: str
    status: str
    metric: str
    due_date: date | None
    #: The day the goal's baseline was taken: its start date, else the day it was created.
    baseline_date: date


@dataclass(frozen=True, slots=True)
class GoalScope:
    """What a goal's scope resolves to today (live records only)."""

    item_ids: frozenset[int] = frozenset()
    #: Milestones the scope selects, and the milestones its items belong to.
    milestone_ids: frozenset[int] = frozenset()
    connection_ids: frozenset[int] = frozenset()
    project_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class ScopePoint:
    """The size of a goal's scope on one day, in what the goal counts."""

    day: date
    size: float


@dataclass(frozen=True, slots=True)
class ScopeLine:
    #: items, points or milestones; ``None`` when the goal has no scope to grow (numeric,
    #: or rolled up from its children).
    unit: str | None
    #: The last snapshot on or before the baseline date (else the first after it), every
    #: later snapshot, and today's live size last. Oldest first.
    points: tuple[ScopePoint, ...] = ()


@dataclass(frozen=True, slots=True)
class GoalForecast:
    #: The goals feature's verdict: forecast, achieved, stalled, insufficient_history, ...
    verdict: str
    reason: str
    due_date: date | None
    p50_date: date | None
    p85_date: date | None
    probability_by_due: float | None = None


@dataclass(frozen=True, slots=True)
class GoalRollup:
    status: str | None
    status_reason: str
    progress: float | None
    expected_progress: float | None
    variance: float | None


class GoalFacts(Protocol):
    def goals(self, goal_ids: Collection[int] | None = None) -> list[GoalInfo]:
        """The goals named (those that exist), or every active goal for ``None``."""
        ...

    def scope(self, goal_id: int) -> GoalScope: ...

    def scope_line(self, goal_id: int) -> ScopeLine: ...

    def forecast(self, goal_id: int) -> GoalForecast: ...

    def rollup(self, goal_id: int) -> GoalRollup: ...


# -- the binding to the goals feature ------------------------------------------------------
class StoreGoalFacts:
    """:class:`GoalFacts` over the goals feature's public functions, for one ``now``."""

    def __init__(self, session: Session, *, now: datetime) -> None:
        self.session = session
        self.now = now
        self.reader = RollupReader(session, now=now)
        self._scopes: dict[int, GoalScope] = {}

    def goals(self, goal_ids: Collection[int] | None = None) -> list[GoalInfo]:
        ids = (
            goal_store.goal_ids_with_status(self.session, [GoalStatus.ACTIVE.value])
            if goal_ids is None
            else list(goal_ids)
        )
        rows = goal_store.goals_by_id(self.session, ids)
        return [
            GoalInfo(
                id=row.id,
                title=row.title,
                status=row.status,
                metric=row.metric,
                due_date=row.due_date,
                baseline_date=row.start_date or row.created_at.date(),
            )
            for row in sorted(rows.values(), key=lambda r: r.id)
        ]

    def scope(self, goal_id: int) -> GoalScope:
        if goal_id not in self._scopes:
            self._scopes[goal_id] = self._scope(goal_id, frozenset())
        return self._scopes[goal_id]

    def _scope(self, goal_id: int, seen: frozenset[int]) -> GoalScope:
        goal = self.reader.goal(goal_id)
        if goal.from_children:
            parts = [
                self._scope(child, seen | {goal_id})
                for child in self.reader.children.get(goal_id, [])
                if child not in seen and child != goal_id
            ]
            return scope_union(parts)
        selectors = goal.selectors
        if not selectors:
            return GoalScope()
        dialect = self.session.get_bind().dialect.name
        rows = risk_store.scope_rows(self.session, goal_store.item_scope(selectors, dialect))
        milestones = [
            m
            for m in goal_store.scope_milestones(self.session, selectors)
            if not (m.deleted or m.access_lost)
        ]
        return GoalScope(
            item_ids=frozenset(r[0] for r in rows),
            milestone_ids=frozenset(
                {r[1] for r in rows if r[1] is not None} | {m.id for m in milestones}
            ),
            connection_ids=frozenset({r[2] for r in rows} | {m.connection_id for m in milestones}),
            project_ids=frozenset(
                {r[3] for r in rows if r[3] is not None}
                | {m.project_id for m in milestones if m.project_id is not None}
            ),
        )

    def scope_line(self, goal_id: int) -> ScopeLine:
        goal = self.reader.goal(goal_id)
        if goal.metric is Metric.NUMERIC or goal.from_children:
            return ScopeLine(unit=None)
        unit = {Metric.POINTS_DONE: "points", Metric.MILESTONES_REACHED: "milestones"}.get(
            goal.metric, "items"
        )
        (info,) = self.goals([goal_id])
        today = self.now.date()
        snapshots = []
        before = goal_store.snapshot_on_or_before(self.session, goal_id, info.baseline_date)
        if before is not None:
            snapshots.append(before)
        snapshots += [
            s
            for s in goal_store.snapshots_between(self.session, goal_id, info.baseline_date, today)
            if before is None or s.day > before.day
        ]
        points = [
            ScopePoint(s.day, s.scope_points if unit == "points" else float(s.scope_items))
            for s in snapshots
            if s.day < today
        ]
        rollup = self.reader.rollup(goal_id)
        size = rollup.points_total if unit == "points" else float(rollup.scope_items)
        points.append(ScopePoint(today, size))
        return ScopeLine(unit=unit, points=tuple(points))

    def forecast(self, goal_id: int) -> GoalForecast:
        result = forecast_goal(self.session, goal_id, now=self.now, reader=self.reader)
        return GoalForecast(
            verdict=result.verdict,
            reason=result.reason,
            due_date=result.due_date,
            p50_date=result.p50_date,
            p85_date=result.p85_date,
            probability_by_due=result.probability_by_due,
        )

    def rollup(self, goal_id: int) -> GoalRollup:
        rollup = self.reader.rollup(goal_id)
        return GoalRollup(
            status=rollup.status,
            status_reason=rollup.status_reason,
            progress=rollup.progress,
            expected_progress=rollup.expected_progress,
            variance=rollup.variance,
        )


def scope_union(scopes: Sequence[GoalScope]) -> GoalScope:
    return GoalScope(
        item_ids=frozenset().union(*(s.item_ids for s in scopes)),
        milestone_ids=frozenset().union(*(s.milestone_ids for s in scopes)),
        connection_ids=frozenset().union(*(s.connection_ids for s in scopes)),
        project_ids=frozenset().union(*(s.project_ids for s in scopes)),
    )
