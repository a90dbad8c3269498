"""The SMART check, like a linter: for each letter a verdict and reasons a person can act on.

S  specific: an owner, a description, a scope that resolves to at least one item.
M  measurable: metric, baseline and target; sources connected, populated and synced
   recently; for points, items that actually carry estimates.
A  achievable: the forecast finishes by the due date (``warn`` when only the optimistic
   50th percentile does).
R  relevant: a parent goal or a relevance statement.
T  time-bound: a due date after the start date, not already passed for an active goal.

``check`` is pure; ``smart_report`` reads the store for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from insights.goals.forecast import (
    DEFAULT_SETTINGS,
    Forecast,
    ForecastSettings,
    ForecastVerdict,
    forecast_goal,
)
from insights.goals.model import FRESH_FOR, GoalDef, GoalStatus, Metric, RollupStatus, Verdict
from insights.goals.rollup import Rollup, RollupReader
from sync.model import ConnectionState

#: Shorter than this, a description rarely says what will be different when the goal is met.
MIN_DESCRIPTION = 20
#: Share of a points goal's items that must carry an estimate before points mean much.
MIN_ESTIMATED_SHARE = 0.8
#: A numeric goal's latest measurement older than this is stale.
MEASUREMENT_FRESH_FOR = timedelta(days=14)

_RANK = {Verdict.PASS: 0, Verdict.WARN: 1, Verdict.FAIL: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    verdict: Verdict
    message: str


@dataclass(frozen=True, slots=True)
class LetterCheck:
    letter: str
    name: str
    verdict: str
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class SmartReport:
    goal_id: int
    as_of: datetime
    #: True when no letter fails (warnings allowed).
    smart: bool
    verdict: str
    checks: list[LetterCheck] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [
            f"{c.letter}: {reason}"
            for c in self.checks
            if c.verdict == Verdict.FAIL.value
            for reason in c.reasons
        ]


def _letter(letter: str, name: str, findings: Sequence[Finding], ok: str) -> LetterCheck:
    worst = max((f.verdict for f in findings), key=_RANK.__getitem__, default=Verdict.PASS)
    reasons = [f.message for f in findings if f.verdict is not Verdict.PASS]
    if worst is Verdict.PASS:
        reasons = [ok, *(f.message for f in findings)]
    return LetterCheck(letter, name, worst.value, reasons)


# -- the letters ---------------------------------------------------------------------------
def specific(goal: GoalDef, rollup: Rollup, children: int) -> LetterCheck:
    findings = []
    if not (goal.owner or "").strip():
        findings.append(Finding(Verdict.FAIL, "no owner: set owner to the person accountable"))
    description = (goal.description or "").strip()
    if not description:
        findings.append(
            Finding(Verdict.FAIL, "no description: say what will be different when it is met")
        )
    elif len(description) < MIN_DESCRIPTION:
        findings.append(
            Finding(
                Verdict.WARN,
                f"the description has {len(description)} characters: say what will be "
                "different when the goal is met",
            )
        )
    if goal.from_children:
        if children == 0:
            findings.append(
                Finding(
                    Verdict.FAIL,
                    "progress rolls up from child goals but there are none: link goals to "
                    "this one with parent_id",
                )
            )
    elif goal.metric is not Metric.NUMERIC:
        noun = "milestones" if goal.counts_milestones else "items"
        if not goal.selectors:
            findings.append(
                Finding(
                    Verdict.FAIL,
                    f"no scope: add a selector picking the {noun} this goal is about "
                    "(connection, project, labels, types, milestone, assignee)",
                )
            )
        elif rollup.scope_items == 0:
            findings.append(
                Finding(
                    Verdict.FAIL,
                    f"the scope matches no live {noun}: check the selectors, or sync the "
                    "connections they name",
                )
            )
    return _letter("S", "specific", findings, "owner, description and scope are set")


def measurable(
    goal: GoalDef,
    rollup: Rollup,
    connections: Mapping[int, Mapping[str, Any]],
    *,
    now: datetime,
) -> LetterCheck:
    findings: list[Finding] = []
    if goal.from_children:
        return _letter("M", "measurable", findings, "measured through its child goals")
    if goal.metric is Metric.NUMERIC:
        m = rollup.measurement
        if m is None:
            findings.append(
                Finding(
                    Verdict.WARN,
                    f"no measurement yet: POST /v1/goals/{goal.id}/measurements the current "
                    "value from where it is tracked",
                )
            )
        elif now - m.measured_at > MEASUREMENT_FRESH_FOR:
            findings.append(
                Finding(
                    Verdict.WARN,
                    f"the latest measurement is {(now - m.measured_at).days} days old: push "
                    "a current value",
                )
            )
        return _letter("M", "measurable", findings, "numeric target with measurements")
    if goal.target is None:
        findings.append(
            Finding(
                Verdict.WARN,
                f"the target follows the scope (now {rollup.target:g}): set a fixed target "
                "so that scope growth shows as slip",
            )
        )
    named = {s.connection_id for s in goal.selectors if s.connection_id is not None}
    counted: dict[int, int] = {}
    for source in rollup.sources:
        counted[source.connection_id] = counted.get(source.connection_id, 0) + source.items
    for connection_id in sorted(named | set(counted)):
        c = connections.get(connection_id)
        if c is None:
            continue
        label = f"connection {c['name']} ({c['tool']})"
        state = c["state"]
        if state in (ConnectionState.NEEDS_REAUTH.value, ConnectionState.FAILING.value):
            findings.append(
                Finding(
                    Verdict.FAIL,
                    f"{label} is {state}: {c.get('state_reason') or 'see /admin/sync-runs'}; "
                    "fix it so its numbers update",
                )
            )
        elif state in (ConnectionState.PAUSED.value, ConnectionState.THROTTLED.value):
            findings.append(Finding(Verdict.WARN, f"{label} is {state}: its numbers may lag"))
        last = c["last_success_at"]
        if last is None:
            findings.append(
                Finding(Verdict.FAIL, f"{label} has never synced: trigger a sync in /admin")
            )
        elif now - last > FRESH_FOR:
            hours = int((now - last).total_seconds() // 3600)
            findings.append(
                Finding(
                    Verdict.WARN,
                    f"{label} last synced {hours} hours ago: check its schedule or sync it now",
                )
            )
        if connection_id in named and counted.get(connection_id, 0) == 0 and last is not None:
            findings.append(
                Finding(
                    Verdict.WARN,
                    f"{label} contributes no live items to the scope: check its selector",
                )
            )
    if rollup.exclusions.access_lost:
        findings.append(
            Finding(
                Verdict.WARN,
                f"{rollup.exclusions.access_lost} matched item(s) are no longer visible to "
                "pmbridge (access lost): restore the connection's access or they stay uncounted",
            )
        )
    if goal.metric is Metric.POINTS_DONE and rollup.scope_items:
        share = rollup.estimated_items / rollup.scope_items
        missing = rollup.scope_items - rollup.estimated_items
        if rollup.estimated_items == 0:
            findings.append(
                Finding(
                    Verdict.FAIL,
                    f"none of the {rollup.scope_items} items carries an estimate: points_done "
                    "stays 0; estimate the items or measure items_done",
                )
            )
        elif share < MIN_ESTIMATED_SHARE:
            findings.append(
                Finding(
                    Verdict.WARN,
                    f"{missing} of {rollup.scope_items} items carry no estimate and count zero "
                    "points: estimate them",
                )
            )
    return _letter("M", "measurable", findings, "metric, baseline and target set; sources synced")


def achievable(goal: GoalDef, rollup: Rollup, forecast: Forecast | None) -> LetterCheck:
    findings: list[Finding] = []
    if rollup.status == RollupStatus.ACHIEVED.value:
        return _letter("A", "achievable", findings, "the target is already reached")
    if forecast is None or forecast.verdict == ForecastVerdict.NOT_APPLICABLE.value:
        return _letter("A", "achievable", findings, "judged by the child goals' own checks")
    verdict = forecast.verdict
    if verdict == ForecastVerdict.NO_TARGET.value:
        findings.append(Finding(Verdict.FAIL, "no target to forecast towards: set one"))
    elif verdict == ForecastVerdict.INSUFFICIENT_HISTORY.value:
        findings.append(Finding(Verdict.WARN, f"cannot judge yet: {forecast.reason}"))
    elif verdict == ForecastVerdict.STALLED.value:
        findings.append(
            Finding(
                Verdict.FAIL,
                f"{forecast.reason}: add capacity, cut scope or move the due date",
            )
        )
    elif goal.due_date is None:
        findings.append(
            Finding(Verdict.FAIL, "no due date to judge the forecast against: set due_date")
        )
    elif forecast.p85_date is not None and forecast.p85_date <= goal.due_date:
        return _letter(
            "A",
            "achievable",
            findings,
            f"85% of simulated runs finish by {forecast.p85_date.isoformat()}, before the due "
            f"date {goal.due_date.isoformat()}",
        )
    elif forecast.p50_date is not None and forecast.p50_date <= goal.due_date:
        findings.append(
            Finding(
                Verdict.WARN,
                f"only the optimistic forecast (p50 {forecast.p50_date.isoformat()}) finishes "
                f"by {goal.due_date.isoformat()}; the cautious one (p85) is "
                f"{_date(forecast.p85_date)}: needs {forecast.pace_needed_per_week}/week, "
                f"recent pace {forecast.recent_pace_per_week}/week",
            )
        )
    else:
        findings.append(
            Finding(
                Verdict.FAIL,
                f"the forecast (p50 {_date(forecast.p50_date)}) is after the due date "
                f"{goal.due_date.isoformat()}: needs {forecast.pace_needed_per_week}/week, "
                f"recent pace {forecast.recent_pace_per_week}/week; add capacity, cut scope "
                "or move the date",
            )
        )
    return _letter("A", "achievable", findings, "the forecast finishes by the due date")


def _date(value: Any) -> str:
    return "not within the horizon" if value is None else str(value.isoformat())


def relevant(goal: GoalDef) -> LetterCheck:
    if goal.parent_id is not None:
        return _letter("R", "relevant", [], f"rolls up into goal {goal.parent_id}")
    if (goal.relevance or "").strip():
        return _letter("R", "relevant", [], "a relevance statement says why it matters")
    return _letter(
        "R",
        "relevant",
        [
            Finding(
                Verdict.FAIL,
                "no parent goal and no relevance statement: link it to the goal it serves "
                "(parent_id) or say why it matters (relevance)",
            )
        ],
        "",
    )


def time_bound(goal: GoalDef, rollup: Rollup, *, now: datetime) -> LetterCheck:
    findings = []
    start, due = goal.start_date, goal.due_date
    if due is None:
        findings.append(Finding(Verdict.FAIL, "no due date: set due_date"))
    if start is None:
        findings.append(Finding(Verdict.FAIL, "no start date: set start_date"))
    if start is not None and due is not None and due <= start:
        findings.append(
            Finding(Verdict.FAIL, "the due date is not after the start date: move it later")
        )
    today = now.date()
    if (
        due is not None
        and due < today
        and goal.status is GoalStatus.ACTIVE
        and rollup.status != RollupStatus.ACHIEVED.value
    ):
        findings.append(
            Finding(
                Verdict.FAIL,
                f"the due date {due.isoformat()} passed {(today - due).days} days ago: "
                "set a new date or mark the goal missed",
            )
        )
    return _letter("T", "time-bound", findings, "starts and ends on set dates")


def check(
    goal: GoalDef,
    rollup: Rollup,
    forecast: Forecast | None,
    *,
    connections: Mapping[int, Mapping[str, Any]],
    children: int,
    child_achievable: Sequence[LetterCheck] = (),
    now: datetime,
) -> SmartReport:
    a = achievable(goal, rollup, forecast)
    if goal.from_children and child_achievable:
        worst = max((Verdict(c.verdict) for c in child_achievable), key=_RANK.__getitem__)
        a = LetterCheck(
            "A",
            "achievable",
            worst.value,
            [
                f"child goal: {reason}"
                for c in child_achievable
                if c.verdict == worst.value
                for reason in c.reasons
            ],
        )
    checks = [
        specific(goal, rollup, children),
        measurable(goal, rollup, connections, now=now),
        a,
        relevant(goal),
        time_bound(goal, rollup, now=now),
    ]
    worst = max((Verdict(c.verdict) for c in checks), key=_RANK.__getitem__)
    return SmartReport(
        goal_id=goal.id,
        as_of=now,
        smart=worst is not Verdict.FAIL,
        verdict=worst.value,
        checks=checks,
    )


# -- reading the store ---------------------------------------------------------------------
def smart_report(
    session: Session,
    goal_id: int,
    *,
    now: datetime,
    settings: ForecastSettings = DEFAULT_SETTINGS,
    reader: RollupReader | None = None,
) -> SmartReport:
    reader = reader or RollupReader(session, now=now)
    goal = reader.goal(goal_id)
    rollup = reader.rollup(goal_id)
    children = reader.children.get(goal_id, [])
    child_a: list[LetterCheck] = []
    if goal.from_children:
        for child_id in children:
            child = reader.goal(child_id)
            if child.status is GoalStatus.CANCELLED:
                continue
            child_a.append(smart_report(session, child_id, now=now, reader=reader).checks[2])
        forecast = None
    else:
        forecast = forecast_goal(session, goal_id, now=now, settings=settings, reader=reader)
    return check(
        goal,
        rollup,
        forecast,
        connections=reader.connections,
        children=len(children),
        child_achievable=child_a,
        now=now,
    )
