"""Rollups: where a goal stands, against what plan, why, and from which sources.

The arithmetic is pure (``progress_of``, ``weighted_progress``, ``expected_progress``,
``classify``, ``build_rollup``); ``compute_rollups`` reads the store and feeds it. One
goal's items are aggregated in one SQL pass, grouped by connection, project and milestone:
the groups give the value, the provenance and the milestone plan at once.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from insights.goals.model import FRESH_FOR, GoalDef, GoalStatus, Metric, RollupStatus, Thresholds
from sync.errors import NotFound
from sync.store import goals as store
from sync.store.goals import ItemGroup, MilestoneRow
from sync.store.queries import connection_freshness

PLACES = 4


# -- arithmetic ----------------------------------------------------------------------------
def progress_of(current: float, baseline: float, target: float | None) -> float | None:
    """(current - baseline) / (target - baseline): 0 at the baseline, 1 at the target."""
    if target is None or target == baseline:
        return None
    return (current - baseline) / (target - baseline)


def clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def weighted_progress(parts: Sequence[tuple[float, float | None]]) -> float | None:
    """Weighted mean of children's progress, each clamped to [0, 1] so one child's
    over-achievement cannot hide another's shortfall. Children without progress are left
    out (their weight too)."""
    known = [(w, clamp01(p)) for w, p in parts if p is not None and w > 0]
    total = sum(w for w, _ in known)
    if total <= 0:
        return None
    return sum(w * p for w, p in known) / total


def contributions(parts: Sequence[tuple[float, float | None]]) -> list[float | None]:
    """Each child's share of the parent's progress; they add up to ``weighted_progress``."""
    total = sum(w for w, p in parts if p is not None and w > 0)
    return [
        (w * clamp01(p) / total) if p is not None and w > 0 and total > 0 else None
        for w, p in parts
    ]


def _linear(today: date, start: date, due: date) -> float:
    return clamp01((today - start).days / (due - start).days)


def expected_progress(
    today: date,
    start: date | None,
    due: date | None,
    shares: Sequence[tuple[date | None, float]] = (),
) -> tuple[float | None, str | None]:
    """Where the plan says progress should be today, and which plan said so.

    Linear from start (0) to due (1), unless some of the work is dated by milestones
    (``shares``: (milestone due date or None, weight)): then the plan reaches each
    milestone's cumulative share of the work on its date, linearly in between; undated work
    is planned for the goal's due date.
    """
    if start is None or due is None or due <= start:
        return None, None
    total = sum(w for _, w in shares if w > 0)
    dated = sorted((min(max(d, start), due), w) for d, w in shares if d is not None and w > 0)
    if total <= 0 or not dated:
        return _linear(today, start, due), "linear"
    if today <= start:
        return 0.0, "milestones"
    if today >= due:
        return 1.0, "milestones"
    points: list[tuple[date, float]] = [(start, 0.0)]
    cumulative = 0.0
    for day, weight in dated:
        cumulative += weight
        if points[-1][0] == day:
            points[-1] = (day, cumulative / total)
        else:
            points.append((day, cumulative / total))
    if points[-1][0] != due:
        points.append((due, 1.0))
    else:
        points[-1] = (due, 1.0)
    for (d0, v0), (d1, v1) in itertools.pairwise(points):
        if d0 <= today < d1:
            return v0 + (v1 - v0) * (today - d0).days / (d1 - d0).days, "milestones"
    return 1.0, "milestones"  # pragma: no cover - today < due is inside some segment


def classify(
    progress: float | None, expected: float | None, thresholds: Thresholds
) -> tuple[RollupStatus | None, str]:
    """The status, and a sentence saying why."""
    if progress is None:
        return None, "no progress to judge: the target is missing or equals the baseline"
    if progress >= 1:
        return RollupStatus.ACHIEVED, "the current value has reached the target"
    if expected is None:
        return None, "no plan to compare with: set a start date before the due date"
    # Rounded so that -0.1 computed as -0.10000000000000003 is still -0.1.
    variance = round(progress - expected, 6)
    if variance >= thresholds.at_risk_below:
        return RollupStatus.ON_TRACK, (
            f"variance {variance:+.2f} is at or above the at-risk threshold "
            f"{thresholds.at_risk_below:+.2f}"
        )
    if variance >= thresholds.off_track_below:
        return RollupStatus.AT_RISK, (
            f"variance {variance:+.2f} is below the at-risk threshold "
            f"{thresholds.at_risk_below:+.2f}"
        )
    return RollupStatus.OFF_TRACK, (
        f"variance {variance:+.2f} is below the off-track threshold "
        f"{thresholds.off_track_below:+.2f}"
    )


# -- results -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Exclusions:
    """What the scope matched but does not count, and why; each item once."""

    deleted: int = 0
    access_lost: int = 0
    cancelled: int = 0

    def __add__(self, other: Exclusions) -> Exclusions:
        return Exclusions(
            self.deleted + other.deleted,
            self.access_lost + other.access_lost,
            self.cancelled + other.cancelled,
        )


@dataclass(frozen=True, slots=True)
class SourceRollup:
    """One tool and project's part in the value."""

    tool: str
    connection_id: int
    connection_name: str | None
    project_id: int | None
    project_name: str | None
    items: int
    done: int
    points: float
    points_done: float
    contribution: float
    share: float | None
    excluded: Exclusions


@dataclass(frozen=True, slots=True)
class SourceFreshness:
    connection_id: int
    connection_name: str
    tool: str
    state: str
    last_success_at: datetime | None
    age_seconds: float | None
    fresh: bool


@dataclass(frozen=True, slots=True)
class ChildRollup:
    goal_id: int
    title: str
    weight: float
    progress: float | None
    expected_progress: float | None
    status: str | None
    contribution: float | None


@dataclass(frozen=True, slots=True)
class MeasurementRef:
    value: float
    measured_at: datetime
    source: str | None


@dataclass(frozen=True, slots=True)
class Rollup:
    goal_id: int
    title: str
    metric: str
    unit: str | None
    goal_status: str
    as_of: date
    computed_at: datetime
    baseline: float
    #: The target in force: the goal's, or the scope's total when the goal follows its scope.
    target: float | None
    target_from_scope: bool
    current: float
    progress: float | None
    expected_progress: float | None
    variance: float | None
    status: str | None
    status_reason: str
    #: "linear", "milestones", "children", or null without dates.
    plan: str | None
    at_risk_below: float
    off_track_below: float
    #: What ``scope_items``/``done_items`` and the sources' ``items``/``done`` count.
    counts: str
    scope_items: int
    done_items: int
    points_total: float
    points_done: float
    estimated_items: int
    sources: list[SourceRollup] = field(default_factory=list)
    exclusions: Exclusions = Exclusions()
    freshness: list[SourceFreshness] = field(default_factory=list)
    children: list[ChildRollup] = field(default_factory=list)
    measurement: MeasurementRef | None = None
    from_snapshot: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (ISO dates), as stored in a snapshot."""
        result: dict[str, Any] = _jsonable(dataclasses.asdict(self))
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, PLACES)


# -- building one rollup -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RollupInputs:
    """What the store says about one goal's scope."""

    groups: Sequence[ItemGroup] = ()
    milestones: Sequence[MilestoneRow] = ()
    #: Due dates of the milestones the scope's items belong to.
    milestone_due: Mapping[int, date | None] = field(default_factory=dict)
    project_names: Mapping[int, str] = field(default_factory=dict)
    connections: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    measurement: MeasurementRef | None = None
    children: Sequence[tuple[GoalDef, Rollup]] = ()


@dataclass(slots=True)
class _Source:
    tool: str
    items: int = 0
    done: int = 0
    points: float = 0.0
    points_done: float = 0.0
    excluded: Exclusions = Exclusions()


def _contribution(metric: Metric, source: _Source) -> float:
    if metric is Metric.POINTS_DONE:
        return source.points_done
    return float(source.done)


def _sources(goal: GoalDef, inputs: RollupInputs) -> dict[tuple[int, int | None], _Source]:
    sources: dict[tuple[int, int | None], _Source] = {}
    if goal.counts_milestones:
        for m in inputs.milestones:
            s = sources.setdefault((m.connection_id, m.project_id), _Source(m.tool))
            if m.deleted:
                s.excluded += Exclusions(deleted=1)
            elif m.access_lost:
                s.excluded += Exclusions(access_lost=1)
            else:
                s.items += 1
                s.done += int(m.reached)
        return sources
    for g in inputs.groups:
        s = sources.setdefault((g.connection_id, g.project_id), _Source(g.tool))
        s.items += g.items
        s.done += g.done
        s.points += g.points
        s.points_done += g.points_done
        s.excluded += Exclusions(g.deleted, g.access_lost, g.cancelled)
    return sources


def _plan_shares(goal: GoalDef, inputs: RollupInputs) -> list[tuple[date | None, float]]:
    if goal.counts_milestones:
        return [(m.due_date, 1.0) for m in inputs.milestones if not (m.deleted or m.access_lost)]
    by_points = goal.metric is Metric.POINTS_DONE
    return [
        (
            inputs.milestone_due.get(g.milestone_id) if g.milestone_id is not None else None,
            g.points if by_points else float(g.items),
        )
        for g in inputs.groups
    ]


def freshness_of(connection: Mapping[str, Any], now: datetime) -> SourceFreshness:
    last = connection["last_success_at"]
    age = (now - last).total_seconds() if last is not None else None
    return SourceFreshness(
        connection_id=connection["id"],
        connection_name=connection["name"],
        tool=connection["tool"],
        state=connection["state"],
        last_success_at=last,
        age_seconds=None if age is None else round(age, 1),
        fresh=age is not None and age <= FRESH_FOR.total_seconds(),
    )


def build_rollup(goal: GoalDef, inputs: RollupInputs, *, now: datetime) -> Rollup:
    """A goal's rollup from its scope's aggregates (pure)."""
    if goal.from_children:
        return _children_rollup(goal, inputs, now=now)
    today = now.date()
    sources = _sources(goal, inputs)
    scope_items = sum(s.items for s in sources.values())
    done_items = sum(s.done for s in sources.values())
    points_total = sum(s.points for s in sources.values())
    points_done = sum(s.points_done for s in sources.values())
    estimated = sum(g.estimated for g in inputs.groups)
    measurement = inputs.measurement if goal.metric is Metric.NUMERIC else None
    if goal.metric is Metric.NUMERIC:
        current = measurement.value if measurement is not None else goal.baseline
        scope_total = None
    elif goal.metric is Metric.POINTS_DONE:
        current, scope_total = points_done, points_total
    else:
        current, scope_total = float(done_items), float(scope_items)
    target_from_scope = goal.target is None and scope_total is not None
    target = scope_total if target_from_scope else goal.target
    progress = progress_of(current, goal.baseline, target)
    if goal.metric is Metric.NUMERIC:
        expected, plan = expected_progress(today, goal.start_date, goal.due_date)
    else:
        expected, plan = expected_progress(
            today, goal.start_date, goal.due_date, _plan_shares(goal, inputs)
        )
    status, reason = classify(progress, expected, goal.thresholds)
    if goal.metric is Metric.NUMERIC and measurement is None:
        reason += "; no measurement yet, so the current value is the baseline"
    contributions_total = sum(_contribution(goal.metric, s) for s in sources.values())
    rows = []
    for (connection_id, project_id), s in sorted(
        sources.items(), key=lambda kv: (kv[1].tool, kv[0][0], kv[0][1] or 0)
    ):
        contribution = _contribution(goal.metric, s)
        connection = inputs.connections.get(connection_id, {})
        rows.append(
            SourceRollup(
                tool=s.tool,
                connection_id=connection_id,
                connection_name=connection.get("name"),
                project_id=project_id,
                project_name=inputs.project_names.get(project_id) if project_id else None,
                items=s.items,
                done=s.done,
                points=round(s.points, PLACES),
                points_done=round(s.points_done, PLACES),
                contribution=round(contribution, PLACES),
                share=_round(contribution / contributions_total) if contributions_total else None,
                excluded=s.excluded,
            )
        )
    connection_ids = {c for c, _ in sources} | {
        s.connection_id for s in goal.selectors if s.connection_id is not None
    }
    return Rollup(
        goal_id=goal.id,
        title=goal.title,
        metric=goal.metric.value,
        unit=goal.unit,
        goal_status=goal.status.value,
        as_of=today,
        computed_at=now,
        baseline=goal.baseline,
        target=_round(target),
        target_from_scope=target_from_scope,
        current=round(current, PLACES),
        progress=_round(progress),
        expected_progress=_round(expected),
        variance=_round(None if progress is None or expected is None else progress - expected),
        status=None if status is None else status.value,
        status_reason=reason,
        plan=plan,
        at_risk_below=goal.thresholds.at_risk_below,
        off_track_below=goal.thresholds.off_track_below,
        counts="milestones" if goal.counts_milestones else "items",
        scope_items=scope_items,
        done_items=done_items,
        points_total=round(points_total, PLACES),
        points_done=round(points_done, PLACES),
        estimated_items=estimated,
        sources=rows,
        exclusions=sum((s.excluded for s in sources.values()), Exclusions()),
        freshness=[
            freshness_of(inputs.connections[c], now)
            for c in sorted(connection_ids)
            if c in inputs.connections
        ],
        measurement=measurement,
    )


def _children_rollup(goal: GoalDef, inputs: RollupInputs, *, now: datetime) -> Rollup:
    today = now.date()
    counted = [(g, r) for g, r in inputs.children if g.status is not GoalStatus.CANCELLED]
    parts = [(g.weight, r.progress) for g, r in counted]
    progress = weighted_progress(parts)
    shares = contributions(parts)
    expected_parts = [(g.weight, r.expected_progress) for g, r in counted]
    if any(e is not None for _, e in expected_parts):
        expected: float | None = weighted_progress(expected_parts)
        plan: str | None = "children"
    else:
        expected, plan = expected_progress(today, goal.start_date, goal.due_date)
    status, reason = classify(progress, expected, goal.thresholds)
    if not counted:
        reason = "no child goals to roll up: link goals to this one with parent_id"
    if goal.target is not None and progress is not None:
        current = goal.baseline + progress * (goal.target - goal.baseline)
    else:
        current = progress if progress is not None else goal.baseline
    freshness: dict[int, SourceFreshness] = {}
    for _, r in counted:
        for f in r.freshness:
            freshness.setdefault(f.connection_id, f)
    return Rollup(
        goal_id=goal.id,
        title=goal.title,
        metric=goal.metric.value,
        unit=goal.unit,
        goal_status=goal.status.value,
        as_of=today,
        computed_at=now,
        baseline=goal.baseline,
        target=goal.target,
        target_from_scope=False,
        current=round(current, PLACES),
        progress=_round(progress),
        expected_progress=_round(expected),
        variance=_round(None if progress is None or expected is None else progress - expected),
        status=None if status is None else status.value,
        status_reason=reason,
        plan=plan,
        at_risk_below=goal.thresholds.at_risk_below,
        off_track_below=goal.thresholds.off_track_below,
        counts="goals",
        scope_items=sum(r.scope_items for _, r in counted),
        done_items=sum(r.done_items for _, r in counted),
        points_total=round(sum(r.points_total for _, r in counted), PLACES),
        points_done=round(sum(r.points_done for _, r in counted), PLACES),
        estimated_items=sum(r.estimated_items for _, r in counted),
        exclusions=sum((r.exclusions for _, r in counted), Exclusions()),
        freshness=[freshness[c] for c in sorted(freshness)],
        children=[
            ChildRollup(
                goal_id=g.id,
                title=g.title,
                weight=g.weight,
                progress=r.progress,
                expected_progress=r.expected_progress,
                status=r.status,
                contribution=_round(share),
            )
            for (g, r), share in zip(counted, shares, strict=True)
        ],
    )


# -- reading the store ---------------------------------------------------------------------
class RollupReader:
    """Computes rollups for many goals with shared look-ups (one per kind, not per goal),
    memoised so a parent and its children are each computed once."""

    def __init__(self, session: Session, *, now: datetime) -> None:
        self.session = session
        self.now = now
        self.goals: dict[int, GoalDef] = {}
        self.children: dict[int, list[int]] = {}
        self._rollups: dict[int, Rollup] = {}
        self._connections: dict[int, dict[str, Any]] | None = None
        self._project_names: dict[int, str] = {}
        self._measurements: dict[int, MeasurementRef] = {}

    def load(self, goal_ids: Iterable[int]) -> None:
        wanted = [g for g in set(goal_ids) if g not in self.goals]
        if not wanted:
            return
        rows, selectors = store.goals_with_selectors(self.session, wanted)
        for goal_id, row in rows.items():
            self.goals[goal_id] = GoalDef.from_row(row, selectors[goal_id])
        numeric = [g for g in rows if self.goals[g].metric is Metric.NUMERIC]
        for goal_id, m in store.latest_measurements(self.session, numeric, until=self.now).items():
            self._measurements[goal_id] = MeasurementRef(m.value, m.measured_at, m.source)
        parents = [g for g in rows if self.goals[g].from_children]
        if parents:
            self.children.update(store.children_of(self.session, parents))
            self.load(c for p in parents for c in self.children[p])

    def goal(self, goal_id: int) -> GoalDef:
        self.load([goal_id])
        if goal_id not in self.goals:
            raise NotFound(f"no goal {goal_id}", goal_id=goal_id)
        return self.goals[goal_id]

    @property
    def connections(self) -> dict[int, dict[str, Any]]:
        if self._connections is None:
            self._connections = connection_freshness(self.session)
        return self._connections

    def rollup(self, goal_id: int, _path: tuple[int, ...] = ()) -> Rollup:
        if goal_id in self._rollups:
            return self._rollups[goal_id]
        goal = self.goal(goal_id)
        if goal.from_children:
            children = [
                (self.goal(c), self.rollup(c, (*_path, goal_id)))
                for c in self.children.get(goal_id, [])
                if c not in _path and c != goal_id
            ]
            inputs = RollupInputs(children=children)
        else:
            inputs = self.inputs(goal)
        result = build_rollup(goal, inputs, now=self.now)
        self._rollups[goal_id] = result
        return result

    def inputs(self, goal: GoalDef) -> RollupInputs:
        session = self.session
        if goal.metric is Metric.NUMERIC:
            return RollupInputs(
                connections=self.connections, measurement=self._measurements.get(goal.id)
            )
        if goal.counts_milestones:
            milestones = store.scope_milestones(session, goal.selectors)
            projects = {m.project_id for m in milestones if m.project_id is not None}
            return RollupInputs(
                milestones=milestones,
                project_names=self._names(projects),
                connections=self.connections,
            )
        tools = {c: row["tool"] for c, row in self.connections.items()}
        groups = store.scope_item_groups(session, goal.selectors, tools=tools)
        return RollupInputs(
            groups=groups,
            milestone_due={g.milestone_id: g.milestone_due for g in groups if g.milestone_id},
            project_names={g.project_id: g.project_name or "" for g in groups if g.project_id},
            connections=self.connections,
        )

    def _names(self, ids: set[int]) -> dict[int, str]:
        missing = ids - self._project_names.keys()
        if missing:
            self._project_names.update(store.project_names(self.session, missing))
        return self._project_names


def compute_rollups(
    session: Session, goal_ids: Sequence[int], *, now: datetime
) -> dict[int, Rollup]:
    reader = RollupReader(session, now=now)
    reader.load(goal_ids)
    return {goal_id: reader.rollup(goal_id) for goal_id in goal_ids}


def compute_rollup(session: Session, goal_id: int, *, now: datetime) -> Rollup:
    return RollupReader(session, now=now).rollup(goal_id)
