"""History: a daily snapshot of every active goal, burn-up series, and "what did we report then".

``take_snapshots(session, now=...)`` is what the worker calls once a day (and the API on
demand): it stores each active goal's rollup under the day of ``now``. A day's snapshot
taken again replaces that day's row, so snapshots are idempotent per goal and day and a day
keeps its latest reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from insights.goals.model import GoalStatus, Metric
from insights.goals.rollup import Rollup, compute_rollups
from sync.errors import InvalidRequest, NotFound
from sync.store import goals as store
from sync.store.goal_tables import GoalSnapshot

#: How far back ``history`` reaches when the caller gives no start.
DEFAULT_SPAN = timedelta(days=90)
#: Longest range one history request may ask for.
MAX_SPAN = timedelta(days=3 * 366)


def snapshot_row(rollup: Rollup, *, now: datetime) -> dict[str, Any]:
    return {
        "goal_id": rollup.goal_id,
        "day": now.date(),
        "taken_at": now,
        "value": rollup.current,
        "target": rollup.target,
        "progress": rollup.progress,
        "expected_progress": rollup.expected_progress,
        "status": rollup.status,
        "scope_items": rollup.scope_items,
        "done_items": rollup.done_items,
        "scope_points": rollup.points_total,
        "done_points": rollup.points_done,
        "rollup": rollup.to_json(),
    }


def take_snapshots(
    session: Session, *, now: datetime, goal_ids: Sequence[int] | None = None
) -> int:
    """Snapshot every active goal (or the goals named) for the day of ``now``; returns how
    many were written. The caller commits."""
    ids = (
        list(goal_ids)
        if goal_ids is not None
        else store.goal_ids_with_status(session, [GoalStatus.ACTIVE.value])
    )
    rollups = compute_rollups(session, ids, now=now)
    store.upsert_snapshots(session, [snapshot_row(r, now=now) for r in rollups.values()])
    return len(rollups)


def rollup_as_of(session: Session, goal_id: int, day: date) -> dict[str, Any]:
    """The rollup as reported by the latest snapshot on or before ``day`` (JSON form)."""
    store.get_goal(session, goal_id)
    row = store.snapshot_on_or_before(session, goal_id, day)
    if row is None:
        raise NotFound(
            f"goal {goal_id} has no snapshot on or before {day.isoformat()}: snapshots are "
            "taken daily for active goals (POST /v1/goals/snapshots takes one now)",
            goal_id=goal_id,
            as_of=day.isoformat(),
        )
    return {**row.rollup, "from_snapshot": True}


@dataclass(frozen=True, slots=True)
class BurnupPoint:
    day: date
    #: The goal's value that day (the burn-up line).
    value: float
    #: The scope line in the metric's unit: items, points or milestones in scope (for a
    #: numeric goal, the target).
    scope: float | None
    target: float | None
    #: Where the plan said the value should be that day.
    planned: float | None
    progress: float | None
    expected_progress: float | None
    status: str | None
    scope_items: int
    done_items: int
    scope_points: float
    done_points: float


@dataclass(frozen=True, slots=True)
class Burnup:
    goal_id: int
    metric: str
    unit: str | None
    baseline: float
    start: date
    end: date
    points: list[BurnupPoint] = field(default_factory=list)


def _scope_line(metric: Metric, row: GoalSnapshot) -> float | None:
    if metric is Metric.POINTS_DONE:
        return row.scope_points
    if metric is Metric.NUMERIC:
        return row.target
    return float(row.scope_items)


def burnup_point(metric: Metric, baseline: float, row: GoalSnapshot) -> BurnupPoint:
    planned = None
    if row.expected_progress is not None and row.target is not None:
        planned = round(baseline + row.expected_progress * (row.target - baseline), 4)
    return BurnupPoint(
        day=row.day,
        value=row.value,
        scope=_scope_line(metric, row),
        target=row.target,
        planned=planned,
        progress=row.progress,
        expected_progress=row.expected_progress,
        status=row.status,
        scope_items=row.scope_items,
        done_items=row.done_items,
        scope_points=row.scope_points,
        done_points=row.done_points,
    )


def history(
    session: Session,
    goal_id: int,
    *,
    start: date | None,
    end: date | None,
    now: datetime,
) -> Burnup:
    goal = store.get_goal(session, goal_id)
    end = end or now.date()
    # Clamped: a "to" within the span of the calendar's first day has no earlier default.
    start = start or (end - DEFAULT_SPAN if end - date.min >= DEFAULT_SPAN else date.min)
    if start > end:
        raise InvalidRequest(
            f"from {start.isoformat()} is after to {end.isoformat()}", field="from"
        )
    if end - start > MAX_SPAN:
        raise InvalidRequest(
            f"at most {MAX_SPAN.days} days per request; page through longer ranges",
            field="from",
        )
    metric = Metric(goal.metric)
    rows = store.snapshots_between(session, goal_id, start, end)
    return Burnup(
        goal_id=goal_id,
        metric=metric.value,
        unit=goal.unit,
        baseline=goal.baseline,
        start=start,
        end=end,
        points=[burnup_point(metric, goal.baseline, row) for row in rows],
    )
