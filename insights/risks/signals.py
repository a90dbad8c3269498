"""Risk signals: computed from the synced data on every read, never entered or stored by hand.

Each kind is one pure function over plain facts, with ``now`` (or ``today``) and its
threshold passed in; it returns a :class:`Signal` or ``None``. A signal names what it concerns
(with links back to the tool), why it fired, since when (``None`` when the data does not date
it), and a suggested probability and impact, from which its severity band follows.

A signal's ``key`` (``kind:subject_type:subject_id``) is stable across reads: a risk promoted
from a signal keeps it, and so covers it for as long as the risk is open. A signal is also
covered by an open risk entered by hand and linked to its subject (the item, milestone or
goal). A promoted risk covers only its own signal, though it links everything the signal
concerns: a risk about a late item must not silence the signals of that item's milestone.

:mod:`insights.risks.live` reads the store and applies these functions and the filters.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from insights.risks.goal_facts import (
    GoalForecast,
    GoalInfo,
    ScopeLine,
)
from insights.risks.settings import Thresholds
from sync.errors import InvalidRequest
from sync.model import StatusCategory

OPEN_CATEGORIES = frozenset({StatusCategory.TODO.value, StatusCategory.IN_PROGRESS.value})
#: Priority names that make a late item weigh more, casefolded, across tools.
HIGH_PRIORITIES = frozenset({"highest", "high", "urgent", "critical", "blocker", "p0", "p1"})


class SignalKind(StrEnum):
    OVERDUE_ITEM = "overdue_item"
    OVERDUE_MILESTONE = "overdue_milestone"
    MILESTONE_AT_RISK = "milestone_at_risk"
    UNASSIGNED_DUE_SOON = "unassigned_due_soon"
    STALE_ITEM = "stale_item"
    BLOCKED_ITEM = "blocked_item"
    SCOPE_CREEP = "scope_creep"
    FORECAST_SLIP = "forecast_slip"
    DATA_STALE = "data_stale"
    ACCESS_LOST = "access_lost"


ITEM_KINDS = frozenset(
    {
        SignalKind.OVERDUE_ITEM,
        SignalKind.UNASSIGNED_DUE_SOON,
        SignalKind.STALE_ITEM,
        SignalKind.BLOCKED_ITEM,
    }
)
MILESTONE_KINDS = frozenset({SignalKind.OVERDUE_MILESTONE, SignalKind.MILESTONE_AT_RISK})
GOAL_KINDS = frozenset({SignalKind.SCOPE_CREEP, SignalKind.FORECAST_SLIP})
CONNECTION_KINDS = frozenset({SignalKind.DATA_STALE, SignalKind.ACCESS_LOST})
KIND_ORDER = {kind: index for index, kind in enumerate(SignalKind)}


class SubjectType(StrEnum):
    ITEM = "item"
    MILESTONE = "milestone"
    GOAL = "goal"
    CONNECTION = "connection"


SUBJECT_OF_KIND: Mapping[SignalKind, SubjectType] = {
    **dict.fromkeys(ITEM_KINDS, SubjectType.ITEM),
    **dict.fromkeys(MILESTONE_KINDS, SubjectType.MILESTONE),
    **dict.fromkeys(GOAL_KINDS, SubjectType.GOAL),
    **dict.fromkeys(CONNECTION_KINDS, SubjectType.CONNECTION),
}


@dataclass(frozen=True, slots=True)
class Ref:
    """Something a signal concerns, with a link back to where it lives."""

    type: str
    id: int
    title: str
    key: str | None = None
    url: str | None = None
    tool: str | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    kind: SignalKind
    subject: Ref
    reason: str
    since: datetime | None
    probability: int
    impact: int
    connection_id: int | None = None
    connection_name: str | None = None
    tool: str | None = None
    project_id: int | None = None
    project_name: str | None = None
    items: tuple[Ref, ...] = ()
    milestones: tuple[Ref, ...] = ()
    goals: tuple[Ref, ...] = ()
    #: The numbers behind the reason, machine-readable (dates as ISO text).
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return signal_key(self.kind, self.subject.type, self.subject.id)

    @property
    def score(self) -> int:
        return self.probability * self.impact

    def snapshot(self) -> dict[str, Any]:
        """The signal as plain JSON, as a promoted risk keeps it."""
        return {
            "key": self.key,
            "kind": self.kind.value,
            "subject": _ref_json(self.subject),
            "reason": self.reason,
            "since": None if self.since is None else self.since.isoformat(),
            "probability": self.probability,
            "impact": self.impact,
            "facts": dict(self.facts),
        }


def _ref_json(ref: Ref) -> dict[str, Any]:
    return {"type": ref.type, "id": ref.id, "title": ref.title, "key": ref.key, "url": ref.url}


def signal_key(kind: str, subject_type: str, subject_id: int) -> str:
    return f"{kind}:{subject_type}:{subject_id}"


@dataclass(frozen=True, slots=True)
class ParsedKey:
    kind: SignalKind
    subject_type: SubjectType
    subject_id: int


def parse_key(key: str) -> ParsedKey:
    parts = key.split(":")
    try:
        if len(parts) != 3 or not parts[2].isdigit():
            raise ValueError(key)
        kind = SignalKind(parts[0])
        subject = SubjectType(parts[1])
        if SUBJECT_OF_KIND[kind] is not subject:
            raise ValueError(key)
    except ValueError:
        raise InvalidRequest(
            f"signal_key {key!r} is not a signal key; use the key of a signal from "
            "GET /v1/risks/signals (kind:subject_type:subject_id)",
            field="signal_key",
        ) from None
    return ParsedKey(kind, subject, int(parts[2]))


# -- facts ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Blocker:
    """An item another one waits for, resolved against the store where we have it."""

    vendor_id: str
    key: str | None = None
    title: str | None = None
    url: str | None = None
    item_id: int | None = None
    #: ``None``: neither the store nor the tool's payload says.
    finished: bool | None = None


@dataclass(frozen=True, slots=True)
class ItemFact:
    id: int
    title: str
    status_category: str
    connection_id: int
    tool: str
    updated_at: datetime
    connection_name: str | None = None
    key: str | None = None
    url: str | None = None
    project_id: int | None = None
    project_name: str | None = None
    status_name: str | None = None
    assignee_id: int | None = None
    assignee_name: str | None = None
    due_date: date | None = None
    blocked: bool = False
    labels: tuple[str, ...] = ()
    priority: str | None = None
    milestone_id: int | None = None
    milestone_name: str | None = None
    milestone_url: str | None = None
    blockers: tuple[Blocker, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status_category in OPEN_CATEGORIES

    def ref(self) -> Ref:
        return Ref("item", self.id, self.title, self.key, self.url, self.tool)


@dataclass(frozen=True, slots=True)
class MilestoneFact:
    id: int
    name: str
    connection_id: int
    tool: str
    due_date: date
    #: Live items of the milestone: open (todo, in progress), done, and done recently.
    open_items: int
    done_items: int = 0
    done_recently: int = 0
    connection_name: str | None = None
    url: str | None = None
    project_id: int | None = None
    project_name: str | None = None

    def ref(self) -> Ref:
        return Ref("milestone", self.id, self.name, None, self.url, self.tool)


@dataclass(frozen=True, slots=True)
class ConnectionFact:
    id: int
    name: str
    tool: str
    state: str
    created_at: datetime
    last_success_at: datetime | None = None
    state_reason: str | None = None
    updated_at: datetime | None = None
    #: Records we can no longer see (access lost, not deleted).
    lost_items: int = 0
    lost_since: datetime | None = None
    lost_projects: int = 0

    def ref(self) -> Ref:
        return Ref("connection", self.id, self.name, None, None, self.tool)


def goal_ref(goal: GoalInfo) -> Ref:
    return Ref("goal", goal.id, goal.title, None, f"/v1/goals/{goal.id}")


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _item_signal(
    item: ItemFact,
    kind: SignalKind,
    *,
    reason: str,
    since: datetime | None,
    probability: int,
    impact: int,
    facts: Mapping[str, Any],
    extra_items: tuple[Ref, ...] = (),
) -> Signal:
    milestones: tuple[Ref, ...] = ()
    if item.milestone_id is not None:
        milestones = (
            Ref(
                "milestone",
                item.milestone_id,
                item.milestone_name or "",
                url=item.milestone_url,
                tool=item.tool,
            ),
        )
    return Signal(
        kind=kind,
        subject=item.ref(),
        reason=reason,
        since=since,
        probability=probability,
        impact=impact,
        connection_id=item.connection_id,
        connection_name=item.connection_name,
        tool=item.tool,
        project_id=item.project_id,
        project_name=item.project_name,
        items=(item.ref(), *extra_items),
        milestones=milestones,
        facts=facts,
    )


# -- item signals --------------------------------------------------------------------------
def overdue_item(item: ItemFact, *, today: date) -> Signal | None:
    """Due date passed (due today is not late yet), not done and not cancelled."""
    if not item.is_open or item.due_date is None or item.due_date >= today:
        return None
    late = (today - item.due_date).days
    urgent = (item.priority or "").casefold() in HIGH_PRIORITIES
    return _item_signal(
        item,
        SignalKind.OVERDUE_ITEM,
        reason=f"due {item.due_date.isoformat()}, {_days(late)} ago, and still "
        f"{item.status_name or item.status_category}",
        since=midnight(item.due_date + timedelta(days=1)),
        probability=4,
        impact=3 if late > 14 or urgent else 2,
        facts={"due_date": item.due_date.isoformat(), "days_overdue": late},
    )


def unassigned_due_soon(item: ItemFact, *, today: date, days: int) -> Signal | None:
    """Open, nobody assigned, due between today and ``days`` days from today (inclusive)."""
    if not item.is_open or item.assignee_id is not None or item.due_date is None:
        return None
    left = (item.due_date - today).days
    if not 0 <= left <= days:
        return None
    return _item_signal(
        item,
        SignalKind.UNASSIGNED_DUE_SOON,
        reason=f"due {item.due_date.isoformat()} "
        + ("(today)" if left == 0 else f"(in {_days(left)})")
        + " and nobody is assigned",
        since=midnight(item.due_date - timedelta(days=days)),
        probability=4 if left <= 2 else 3,
        impact=2,
        facts={"due_date": item.due_date.isoformat(), "days_left": left},
    )


def stale_item(item: ItemFact, *, now: datetime, days: int) -> Signal | None:
    """In progress, and the tool shows no update for ``days`` days or more."""
    if item.status_category != StatusCategory.IN_PROGRESS.value:
        return None
    idle = now - item.updated_at
    if idle < timedelta(days=days):
        return None
    return _item_signal(
        item,
        SignalKind.STALE_ITEM,
        reason=f"in progress with no update for {_days(idle.days)} "
        f"(last {item.updated_at.date().isoformat()})",
        since=item.updated_at + timedelta(days=days),
        probability=3 if idle >= timedelta(days=2 * days) else 2,
        impact=2,
        facts={"updated_at": item.updated_at.isoformat(), "days_idle": idle.days},
    )


def _blocked_by_tool(item: ItemFact) -> str | None:
    if not item.blocked:
        return None
    if item.status_name and "block" in item.status_name.casefold():
        return f'the tool shows it blocked (status "{item.status_name}")'
    label = next((label for label in item.labels if "block" in label.casefold()), None)
    if label is not None:
        return f'the tool shows it blocked (label "{label}")'
    return "the tool flags it blocked"


def blocked_item(item: ItemFact) -> Signal | None:
    """Open, and blocked: by the tool's flag, label or status (the mapping's ``blocked``), or
    by a blocking link to an item that is not finished (or whose state nobody knows)."""
    if not item.is_open:
        return None
    waiting = [b for b in item.blockers if b.finished is not True]
    flagged = _blocked_by_tool(item)
    if flagged is None and not waiting:
        return None
    parts = [flagged] if flagged else []
    for blocker in waiting:
        name = blocker.key or blocker.title or blocker.vendor_id
        state = "state unknown" if blocker.finished is None else "not finished"
        parts.append(f"blocked by {name} ({state})")
    refs = tuple(
        Ref("item", b.item_id, b.title or b.key or b.vendor_id, b.key, b.url, item.tool)
        for b in waiting
        if b.item_id is not None
    )
    return _item_signal(
        item,
        SignalKind.BLOCKED_ITEM,
        reason="; ".join(parts),
        # Tools do not date the flag: the item's last update is when it was last touched.
        since=item.updated_at,
        probability=3,
        impact=3,
        facts={
            "flagged": flagged is not None,
            "blocked_by": [b.key or b.vendor_id for b in waiting],
        },
        extra_items=refs,
    )


def item_signals(
    item: ItemFact,
    *,
    now: datetime,
    thresholds: Thresholds,
    kinds: Collection[SignalKind] = ITEM_KINDS,
) -> list[Signal]:
    today = now.date()
    found = []
    if SignalKind.OVERDUE_ITEM in kinds:
        found.append(overdue_item(item, today=today))
    if SignalKind.UNASSIGNED_DUE_SOON in kinds:
        found.append(unassigned_due_soon(item, today=today, days=thresholds.due_soon_days))
    if SignalKind.STALE_ITEM in kinds:
        found.append(stale_item(item, now=now, days=thresholds.stale_days))
    if SignalKind.BLOCKED_ITEM in kinds:
        found.append(blocked_item(item))
    return [s for s in found if s is not None]


# -- milestone signals ---------------------------------------------------------------------
def _milestone_signal(
    m: MilestoneFact,
    kind: SignalKind,
    *,
    reason: str,
    since: datetime | None,
    probability: int,
    impact: int,
    facts: Mapping[str, Any],
) -> Signal:
    return Signal(
        kind=kind,
        subject=m.ref(),
        reason=reason,
        since=since,
        probability=probability,
        impact=impact,
        connection_id=m.connection_id,
        connection_name=m.connection_name,
        tool=m.tool,
        project_id=m.project_id,
        project_name=m.project_name,
        milestones=(m.ref(),),
        facts=facts,
    )


def overdue_milestone(m: MilestoneFact, *, today: date) -> Signal | None:
    """Due date passed and not reached (released, completed) in the tool."""
    if m.due_date >= today:
        return None
    late = (today - m.due_date).days
    if m.open_items:
        reason = (
            f"due {m.due_date.isoformat()}, {_days(late)} ago, not reached, with "
            f"{m.open_items} open item(s)"
        )
    else:
        reason = (
            f"due {m.due_date.isoformat()}, {_days(late)} ago, not reached, though none of "
            "its items is open: mark it reached in the tool if it is"
        )
    return _milestone_signal(
        m,
        SignalKind.OVERDUE_MILESTONE,
        reason=reason,
        since=midnight(m.due_date + timedelta(days=1)),
        probability=4,
        impact=4 if m.open_items else 2,
        facts={
            "due_date": m.due_date.isoformat(),
            "days_overdue": late,
            "open_items": m.open_items,
        },
    )


def milestone_at_risk(m: MilestoneFact, *, today: date, pace_days: int) -> Signal | None:
    """Not yet due, and its open items cannot be finished by its date at the pace of its
    items over the last ``pace_days`` days (done per day, the due day included)."""
    if m.due_date < today or m.open_items <= 0:
        return None
    days_left = (m.due_date - today).days + 1
    # open > done_recently / pace_days * days_left, in integers: no rounding decides.
    if m.open_items * pace_days <= m.done_recently * days_left:
        return None
    capacity = m.done_recently * days_left / pace_days
    pace = f"{m.done_recently} done in the last {_days(pace_days)}"
    return _milestone_signal(
        m,
        SignalKind.MILESTONE_AT_RISK,
        reason=f"{m.open_items} open item(s) and {_days(days_left)} left until "
        f"{m.due_date.isoformat()}; at the recent pace ({pace}) about {capacity:.1f} more "
        "can be finished",
        since=None,
        probability=4 if 2 * capacity < m.open_items else 3,
        impact=4,
        facts={
            "due_date": m.due_date.isoformat(),
            "open_items": m.open_items,
            "days_left": days_left,
            "done_recently": m.done_recently,
            "pace_days": pace_days,
            "pace_per_week": round(m.done_recently / pace_days * 7, 2),
            "needed_per_week": round(m.open_items / days_left * 7, 2),
        },
    )


def milestone_signals(
    m: MilestoneFact,
    *,
    today: date,
    pace_days: int,
    kinds: Collection[SignalKind] = MILESTONE_KINDS,
) -> list[Signal]:
    found = []
    if SignalKind.OVERDUE_MILESTONE in kinds:
        found.append(overdue_milestone(m, today=today))
    if SignalKind.MILESTONE_AT_RISK in kinds:
        found.append(milestone_at_risk(m, today=today, pace_days=pace_days))
    return [s for s in found if s is not None]


# -- goal signals --------------------------------------------------------------------------
def _goal_signal(
    goal: GoalInfo,
    kind: SignalKind,
    *,
    reason: str,
    since: datetime | None,
    probability: int,
    impact: int,
    facts: Mapping[str, Any],
) -> Signal:
    ref = goal_ref(goal)
    return Signal(
        kind=kind,
        subject=ref,
        reason=reason,
        since=since,
        probability=probability,
        impact=impact,
        goals=(ref,),
        facts=facts,
    )


def scope_creep(goal: GoalInfo, line: ScopeLine, *, pct: float) -> Signal | None:
    """The goal's scope grew by more than ``pct`` percent since its baseline date.

    The line's first point is the scope at the baseline (the last snapshot on or before the
    baseline date, else the first one after it) and its last point is today's. A scope that
    was empty at the baseline has no percentage to grow by: no signal."""
    if line.unit is None or len(line.points) < 2:
        return None
    base, current = line.points[0], line.points[-1]
    if base.size <= 0:
        return None

    def growth(size: float) -> float:
        return (size - base.size) / base.size * 100

    if growth(current.size) <= pct:
        return None
    first = len(line.points) - 1
    while first > 1 and growth(line.points[first - 1].size) > pct:
        first -= 1
    grown = growth(current.size)
    measured = (
        f"on {base.day.isoformat()}"
        if base.day <= goal.baseline_date
        else f"on {base.day.isoformat()}, the first snapshot after the baseline date "
        f"{goal.baseline_date.isoformat()}"
    )
    return _goal_signal(
        goal,
        SignalKind.SCOPE_CREEP,
        reason=f"the scope grew {grown:.0f}% since the baseline ({base.size:g} {line.unit} "
        f"{measured}; {current.size:g} now), more than the {pct:g}% allowed",
        since=midnight(line.points[first].day),
        probability=4 if grown > 2 * pct else 3,
        impact=3,
        facts={
            "unit": line.unit,
            "baseline_day": base.day.isoformat(),
            "baseline_size": base.size,
            "current_size": current.size,
            "growth_pct": round(grown, 2),
            "threshold_pct": pct,
        },
    )


def forecast_slip(goal: GoalInfo, forecast: GoalForecast, *, grace_days: int) -> Signal | None:
    """The goal's 85th-percentile forecast passes its due date (by more than ``grace_days``),
    never finishes within the forecast's horizon, or the work has stalled. Too little history
    or no target says nothing: the goal's own forecast explains why."""
    due = forecast.due_date or goal.due_date
    if due is None:
        return None
    p50, p85 = forecast.p50_date, forecast.p85_date
    if forecast.verdict == "stalled":
        reason = f"the work has stalled, so the due date {due.isoformat()} cannot be met: "
        reason += forecast.reason
        probability = 5
    elif forecast.verdict == "forecast":
        if p85 is not None and p85 <= due + timedelta(days=grace_days):
            return None
        if p85 is None:
            reason = (
                f"the 85th-percentile forecast does not finish within its horizon; due "
                f"{due.isoformat()}"
            )
        else:
            reason = (
                f"the 85th-percentile forecast finishes {p85.isoformat()}, "
                f"{_days((p85 - due).days)} after the due date {due.isoformat()}"
            )
        if p50 is not None:
            reason += f" (even odds: {p50.isoformat()})"
        probability = 5 if p50 is None or p50 > due else 4
    else:
        return None
    return _goal_signal(
        goal,
        SignalKind.FORECAST_SLIP,
        reason=reason,
        since=None,
        probability=probability,
        impact=4,
        facts={
            "due_date": due.isoformat(),
            "p50_date": None if p50 is None else p50.isoformat(),
            "p85_date": None if p85 is None else p85.isoformat(),
            "probability_by_due": forecast.probability_by_due,
            "verdict": forecast.verdict,
            "grace_days": grace_days,
        },
    )


# -- data signals --------------------------------------------------------------------------
def _connection_signal(
    c: ConnectionFact,
    kind: SignalKind,
    *,
    reason: str,
    since: datetime | None,
    probability: int,
    impact: int,
    facts: Mapping[str, Any],
) -> Signal:
    return Signal(
        kind=kind,
        subject=c.ref(),
        reason=reason,
        since=since,
        probability=probability,
        impact=impact,
        connection_id=c.id,
        connection_name=c.name,
        tool=c.tool,
        facts=facts,
    )


def data_stale(c: ConnectionFact, *, now: datetime, hours: float) -> Signal | None:
    """No successful sync for more than ``hours`` (a connection never synced counts from its
    creation): every number built on it may have moved since."""
    reference = c.last_success_at or c.created_at
    limit = timedelta(hours=hours)
    age = now - reference
    if age <= limit:
        return None
    age_hours = age.total_seconds() / 3600
    if c.last_success_at is None:
        reason = f"never synced successfully since it was added {age_hours:.0f} h ago"
    else:
        reason = f"last synced successfully {age_hours:.0f} h ago"
    reason += f", more than the {hours:g} h allowed; the connection is {c.state}"
    if c.state_reason:
        reason += f" ({c.state_reason})"
    return _connection_signal(
        c,
        SignalKind.DATA_STALE,
        reason=reason,
        since=reference + limit,
        probability=3 if age > 3 * limit else 2,
        impact=3,
        facts={
            "last_success_at": None if c.last_success_at is None else c.last_success_at.isoformat(),
            "age_hours": round(age_hours, 1),
            "threshold_hours": hours,
            "state": c.state,
        },
    )


def access_lost(c: ConnectionFact) -> Signal | None:
    """Records we can no longer see (their project or our permission went away), or a
    connection whose credentials the tool rejects: unreachable data, not deleted data."""
    reauth = c.state == "needs_reauth"
    if not (c.lost_items or c.lost_projects or reauth):
        return None
    parts = []
    if reauth:
        parts.append("the tool rejects the connection's credentials: a person must reconnect")
    if c.lost_items or c.lost_projects:
        parts.append(
            f"{c.lost_items} item(s) and {c.lost_projects} project(s) can no longer be seen "
            "(access lost, not deleted)"
        )
    since = c.lost_since if c.lost_since is not None else (c.updated_at if reauth else None)
    return _connection_signal(
        c,
        SignalKind.ACCESS_LOST,
        reason="; ".join(parts),
        since=since,
        probability=4 if reauth else 3,
        impact=3,
        facts={
            "lost_items": c.lost_items,
            "lost_projects": c.lost_projects,
            "needs_reauth": reauth,
        },
    )


def connection_signals(
    c: ConnectionFact,
    *,
    now: datetime,
    stale_hours: float,
    kinds: Collection[SignalKind] = CONNECTION_KINDS,
) -> list[Signal]:
    found = []
    if SignalKind.DATA_STALE in kinds:
        found.append(data_stale(c, now=now, hours=stale_hours))
    if SignalKind.ACCESS_LOST in kinds:
        found.append(access_lost(c))
    return [s for s in found if s is not None]
