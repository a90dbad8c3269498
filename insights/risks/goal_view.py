"""A goal's risks in one view: its register entries, its live signals, its rollup status,
and the signal thresholds in force for it (the settings, with the goal's overrides)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from insights.risks.goal_facts import GoalFacts, GoalInfo, GoalRollup
from insights.risks.live import AssessedSignal, SignalQuery, goal_thresholds, live_signals
from insights.risks.register import RiskQuery, RiskView, list_risks
from insights.risks.settings import OVERRIDABLE, RiskSettings, Thresholds
from sync.errors import NotFound
from sync.store import risks as store


@dataclass(frozen=True, slots=True)
class GoalRisks:
    goal_id: int
    title: str
    as_of: datetime
    rollup: GoalRollup
    thresholds: Thresholds
    #: Risks linked to the goal, or to an item or milestone of its scope (open ones first).
    risks: list[RiskView]
    signals: list[AssessedSignal]
    unmanaged_signals: int
    open_risks: int
    review_overdue: int


def _goal(goal_facts: GoalFacts, goal_id: int) -> GoalInfo:
    found = goal_facts.goals([goal_id])
    if not found:
        raise NotFound(f"no goal {goal_id}; GET /v1/goals lists them", goal_id=goal_id)
    return found[0]


def goal_risks(
    session: Session,
    goal_id: int,
    *,
    now: datetime,
    settings: RiskSettings,
    goal_facts: GoalFacts,
) -> GoalRisks:
    goal = _goal(goal_facts, goal_id)
    risks = list_risks(
        session,
        RiskQuery(goal_ids=[goal_id]),
        after_id=None,
        limit=None,
        now=now,
        settings=settings,
        goal_facts=goal_facts,
    )
    risks.sort(key=lambda r: (r.status != "open", -r.score, r.id))
    report = live_signals(
        session, SignalQuery(goal_ids=[goal_id]), now=now, settings=settings, goal_facts=goal_facts
    )
    return GoalRisks(
        goal_id=goal.id,
        title=goal.title,
        as_of=now,
        rollup=goal_facts.rollup(goal_id),
        thresholds=goal_thresholds(session, [goal_id], settings)[goal_id],
        risks=risks,
        signals=report.signals,
        unmanaged_signals=sum(1 for s in report.signals if not s.managed),
        open_risks=sum(1 for r in risks if r.status == "open"),
        review_overdue=sum(1 for r in risks if r.review_overdue),
    )


@dataclass(frozen=True, slots=True)
class GoalThresholds:
    goal_id: int
    #: What the goal sets; ``None`` keeps the global setting.
    overrides: dict[str, Any]
    #: What is in force for the goal.
    effective: Thresholds
    defaults: Thresholds


def thresholds_of(
    session: Session, goal_id: int, *, settings: RiskSettings, goal_facts: GoalFacts
) -> GoalThresholds:
    _goal(goal_facts, goal_id)
    overrides = store.goal_thresholds(session, [goal_id]).get(goal_id) or dict.fromkeys(OVERRIDABLE)
    return GoalThresholds(
        goal_id=goal_id,
        overrides=overrides,
        effective=settings.thresholds.overridden(**overrides),
        defaults=settings.thresholds,
    )


def set_thresholds(
    session: Session,
    goal_id: int,
    overrides: Mapping[str, Any],
    *,
    now: datetime,
    actor: str | None,
    settings: RiskSettings,
    goal_facts: GoalFacts,
) -> GoalThresholds:
    """Replace the goal's overrides (a field left out or null follows the settings again)."""
    _goal(goal_facts, goal_id)
    store.set_goal_thresholds(
        session, goal_id, {k: overrides.get(k) for k in OVERRIDABLE}, now=now, actor=actor
    )
    return thresholds_of(session, goal_id, settings=settings, goal_facts=goal_facts)
