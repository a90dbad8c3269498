"""The risk register: validation, scoring, severity bands, contingency rules, review dates,
links, promotion from a signal, and the history of every change.

A risk's score is probability x impact (each 1-5); its severity is the band the score falls
in (bands are settings). An open risk at or above ``contingency_required_from`` (high, by
default) must carry a complete contingency plan: trigger, measures, owner and at least one
step. An open risk whose review date has passed is overdue for review. Every write records
who (the API key's name), when, and what changed (old and new values) in ``risk_change``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from insights.risks.goal_facts import GoalFacts
from insights.risks.live import find_signal, require_signal
from insights.risks.settings import RiskSettings, Severity
from insights.risks.signals import Signal, SignalKind
from sync.errors import Conflict, InvalidRequest
from sync.store import risks as store
from sync.store.risk_tables import Risk, RiskChange

LEVELS = range(1, 6)
MAX_LINKS = 200


class Response(StrEnum):
    AVOID = "avoid"
    MITIGATE = "mitigate"
    TRANSFER = "transfer"
    ACCEPT = "accept"


class Roam(StrEnum):
    RESOLVED = "resolved"
    OWNED = "owned"
    ACCEPTED = "accepted"
    MITIGATED = "mitigated"


class RiskStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TargetType(StrEnum):
    GOAL = "goal"
    MILESTONE = "milestone"
    ITEM = "item"


#: The fields a person writes (contingency flattened); score and severity follow from them.
FIELDS = (
    "title",
    "description",
    "category",
    "probability",
    "impact",
    "owner",
    "response",
    "roam",
    "status",
    "review_date",
    "residual_probability",
    "residual_impact",
    "contingency_trigger",
    "contingency_measures",
    "contingency_owner",
    "contingency_steps",
)
DEFAULTS: Mapping[str, Any] = {
    "description": None,
    "category": None,
    "owner": None,
    "response": None,
    "roam": None,
    "status": RiskStatus.OPEN.value,
    "review_date": None,
    "residual_probability": None,
    "residual_impact": None,
    "contingency_trigger": None,
    "contingency_measures": None,
    "contingency_owner": None,
    "contingency_steps": [],
}
#: A category for each signal kind, when a promotion does not name one.
CATEGORY_OF_KIND: Mapping[SignalKind, str] = {
    SignalKind.OVERDUE_ITEM: "schedule",
    SignalKind.OVERDUE_MILESTONE: "schedule",
    SignalKind.MILESTONE_AT_RISK: "schedule",
    SignalKind.UNASSIGNED_DUE_SOON: "resourcing",
    SignalKind.STALE_ITEM: "delivery",
    SignalKind.BLOCKED_ITEM: "dependency",
    SignalKind.SCOPE_CREEP: "scope",
    SignalKind.FORECAST_SLIP: "schedule",
    SignalKind.DATA_STALE: "data",
    SignalKind.ACCESS_LOST: "data",
}


# -- pure ----------------------------------------------------------------------------------
def score(probability: int, impact: int) -> int:
    return probability * impact


@dataclass(frozen=True, slots=True)
class Contingency:
    trigger: str | None = None
    measures: str | None = None
    owner: str | None = None
    steps: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Contingency:
        return cls(
            trigger=values.get("contingency_trigger"),
            measures=values.get("contingency_measures"),
            owner=values.get("contingency_owner"),
            steps=tuple(values.get("contingency_steps") or ()),
        )

    @property
    def missing(self) -> list[str]:
        """The parts a complete plan needs and this one lacks."""
        parts = [
            ("trigger", self.trigger),
            ("measures", self.measures),
            ("owner", self.owner),
        ]
        lacking = [name for name, value in parts if not (value or "").strip()]
        if not any(step.strip() for step in self.steps):
            lacking.append("steps")
        return lacking

    @property
    def empty(self) -> bool:
        return len(self.missing) == 4


def contingency_required(
    probability: int, impact: int, status: str, settings: RiskSettings
) -> bool:
    if status != RiskStatus.OPEN.value:
        return False
    band = settings.bands.of(score(probability, impact))
    return band.rank >= settings.contingency_required_from.rank


def review_overdue(status: str, review_date: date | None, *, today: date) -> bool:
    """Open, and the review date has passed (a review due today is not overdue yet)."""
    return status == RiskStatus.OPEN.value and review_date is not None and review_date < today


def _level(values: Mapping[str, Any], name: str) -> int | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in LEVELS:
        raise InvalidRequest(
            f"{name} must be a whole number from 1 to 5, not {value!r}", field=name
        )
    return value


def _required_level(values: Mapping[str, Any], name: str) -> int:
    value = _level(values, name)
    if value is None:
        raise InvalidRequest(f"{name} is required: a whole number from 1 to 5", field=name)
    return value


def _choice(values: Mapping[str, Any], name: str, kind: type[StrEnum]) -> None:
    value = values.get(name)
    if value is None:
        return
    try:
        kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidRequest(
            f"{name} must be one of {allowed}, not {value!r}", field=name
        ) from None


def _text(values: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> None:
    value = values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidRequest(f"a risk needs a {name}", field=name)
        return
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be text", field=name)
    if len(value) > limit:
        raise InvalidRequest(f"{name} is longer than {limit} characters", field=name)


def validate(values: Mapping[str, Any], settings: RiskSettings) -> None:
    """Check a risk's complete field set; raises ``InvalidRequest`` naming the field."""
    _text(values, "title", 200, required=True)
    _text(values, "category", 64)
    _text(values, "owner", 320)
    _text(values, "contingency_owner", 320)
    probability = _required_level(values, "probability")
    impact = _required_level(values, "impact")
    _choice(values, "response", Response)
    _choice(values, "roam", Roam)
    _choice(values, "status", RiskStatus)
    residual_p = _level(values, "residual_probability")
    residual_i = _level(values, "residual_impact")
    if (residual_p is None) != (residual_i is None):
        name = "residual_impact" if residual_i is None else "residual_probability"
        raise InvalidRequest(
            "residual_probability and residual_impact go together: give both or neither",
            field=name,
        )
    residual = None if residual_p is None or residual_i is None else score(residual_p, residual_i)
    if residual is not None and residual > score(probability, impact):
        raise InvalidRequest(
            f"the residual score {residual} is above the risk's score "
            f"{score(probability, impact)}: a response cannot make a risk worse",
            field="residual_probability",
        )
    steps = values.get("contingency_steps") or []
    if not isinstance(steps, list | tuple) or not all(isinstance(s, str) for s in steps):
        raise InvalidRequest("contingency steps must be a list of text", field="contingency.steps")
    status = str(values.get("status") or RiskStatus.OPEN.value)
    if contingency_required(probability, impact, status, settings):
        missing = Contingency.of(values).missing
        if missing:
            band = settings.bands.of(score(probability, impact))
            raise InvalidRequest(
                f"a {band.value} risk (score {score(probability, impact)}) needs a contingency "
                f"plan: {', '.join(missing)} missing. Open risks at or above the "
                f"{settings.contingency_required_from.value} band must say what triggers the "
                "plan, the measures, who owns it, and its steps",
                field="contingency",
                missing=missing,
            )


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: {"old", "new"}}`` for the fields whose value changed (JSON values)."""
    return {
        name: {"old": _plain(before.get(name)), "new": _plain(after.get(name))}
        for name in FIELDS
        if _plain(before.get(name)) != _plain(after.get(name))
    }


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """The writable fields, enums as text, text trimmed (blank text reads as none)."""
    result: dict[str, Any] = {}
    for name in FIELDS:
        if name not in values:
            continue
        value = _plain(values[name]) if name != "review_date" else values[name]
        if isinstance(value, str):
            value = value.strip() or None
        if name == "contingency_steps":
            value = [s.strip() for s in value or [] if isinstance(s, str) and s.strip()]
        result[name] = value
    return result


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    stored = dict(values)
    stored["score"] = score(values["probability"], values["impact"])
    rp, ri = values.get("residual_probability"), values.get("residual_impact")
    stored["residual_score"] = None if rp is None or ri is None else score(rp, ri)
    return stored


# -- views ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LinkView:
    target_type: str
    target_id: int
    #: False when the item, milestone or goal no longer exists.
    exists: bool
    title: str | None = None
    key: str | None = None
    url: str | None = None
    tool: str | None = None


@dataclass(frozen=True, slots=True)
class RiskView:
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
    contingency: Contingency | None
    contingency_required: bool
    links: list[LinkView]
    source_signal_key: str | None
    source_signal: dict[str, Any] | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None
    closed_at: datetime | None
    #: Whether the signal it was promoted from still fires; ``None`` when not asked (listings)
    #: or not promoted.
    source_signal_active: bool | None = None


def _view(
    risk: Risk,
    links: Sequence[LinkView],
    *,
    today: date,
    settings: RiskSettings,
    signal_active: bool | None = None,
) -> RiskView:
    bands = settings.bands
    plan = Contingency(
        risk.contingency_trigger,
        risk.contingency_measures,
        risk.contingency_owner,
        tuple(risk.contingency_steps or ()),
    )
    return RiskView(
        id=risk.id,
        title=risk.title,
        description=risk.description,
        category=risk.category,
        probability=risk.probability,
        impact=risk.impact,
        score=risk.score,
        severity=bands.of(risk.score).value,
        owner=risk.owner,
        response=risk.response,
        roam=risk.roam,
        status=risk.status,
        review_date=risk.review_date,
        review_overdue=review_overdue(risk.status, risk.review_date, today=today),
        residual_probability=risk.residual_probability,
        residual_impact=risk.residual_impact,
        residual_score=risk.residual_score,
        residual_severity=None
        if risk.residual_score is None
        else bands.of(risk.residual_score).value,
        contingency=None if plan.empty else plan,
        contingency_required=contingency_required(
            risk.probability, risk.impact, risk.status, settings
        ),
        links=list(links),
        source_signal_key=risk.source_signal_key,
        source_signal=risk.source_signal,
        created_at=risk.created_at,
        created_by=risk.created_by,
        updated_at=risk.updated_at,
        updated_by=risk.updated_by,
        closed_at=risk.closed_at,
        source_signal_active=signal_active,
    )


def _link_views(
    session: Session, targets: Mapping[int, Sequence[store.Target]], goal_facts: GoalFacts
) -> dict[int, list[LinkView]]:
    wanted: dict[str, set[int]] = {kind.value: set() for kind in TargetType}
    for links in targets.values():
        for kind, ref in links:
            wanted.setdefault(kind, set()).add(ref)
    items = store.item_refs(session, wanted[TargetType.ITEM])
    milestones = store.milestone_refs(session, wanted[TargetType.MILESTONE])
    goals = {g.id: g for g in goal_facts.goals(sorted(wanted[TargetType.GOAL]))}
    result: dict[int, list[LinkView]] = {}
    for risk_id, links in targets.items():
        views = []
        for kind, ref in links:
            if kind == TargetType.GOAL:
                goal = goals.get(ref)
                views.append(
                    LinkView(kind, ref, goal is not None, goal.title, None, f"/v1/goals/{ref}")
                    if goal is not None
                    else LinkView(kind, ref, False)
                )
                continue
            row = (items if kind == TargetType.ITEM else milestones).get(ref)
            views.append(
                LinkView(kind, ref, True, row.title, row.key, row.url, row.tool)
                if row is not None
                else LinkView(kind, ref, False)
            )
        result[risk_id] = views
    return result


def views_of(
    session: Session,
    risks: Sequence[Risk],
    *,
    now: datetime,
    settings: RiskSettings,
    goal_facts: GoalFacts,
) -> list[RiskView]:
    links = _link_views(session, store.links_of(session, [r.id for r in risks]), goal_facts)
    return [_view(r, links.get(r.id, []), today=now.date(), settings=settings) for r in risks]


# -- writing -------------------------------------------------------------------------------
def _targets(
    session: Session, links: Iterable[tuple[str, int]], goal_facts: GoalFacts
) -> list[store.Target]:
    """Validated, de-duplicated link targets; every target must exist now."""
    wanted: list[store.Target] = []
    for kind, ref in links:
        try:
            target_type = TargetType(kind)
        except ValueError:
            raise InvalidRequest(
                f"links: target_type {kind!r} must be goal, milestone or item", field="links"
            ) from None
        if (target_type.value, ref) not in wanted:
            wanted.append((target_type.value, ref))
    if len(wanted) > MAX_LINKS:
        raise InvalidRequest(f"a risk links at most {MAX_LINKS} targets", field="links")
    by_kind: dict[str, set[int]] = {kind.value: set() for kind in TargetType}
    for kind, ref in wanted:
        by_kind[kind].add(ref)
    found = {
        TargetType.ITEM.value: set(store.item_refs(session, by_kind[TargetType.ITEM])),
        TargetType.MILESTONE.value: set(
            store.milestone_refs(session, by_kind[TargetType.MILESTONE])
        ),
        TargetType.GOAL.value: {g.id for g in goal_facts.goals(sorted(by_kind[TargetType.GOAL]))},
    }
    for kind, ref in wanted:
        if ref not in found[kind]:
            raise InvalidRequest(
                f"links: no {kind} {ref}; GET /v1/{kind}s lists them", field="links"
            )
    return sorted(wanted)


def _link_text(targets: Iterable[store.Target]) -> list[str]:
    return [f"{kind}:{ref}" for kind, ref in targets]


def _current(risk: Risk) -> dict[str, Any]:
    return {name: getattr(risk, name) for name in FIELDS}


def create_risk(
    session: Session,
    values: Mapping[str, Any],
    links: Iterable[tuple[str, int]] = (),
    *,
    now: datetime,
    actor: str | None,
    settings: RiskSettings,
    goal_facts: GoalFacts,
    source: Signal | None = None,
) -> RiskView:
    fields = {**DEFAULTS, **_clean(values)}
    validate(fields, settings)
    targets = _targets(session, links, goal_facts)
    stored = _stored(fields)
    if fields["status"] == RiskStatus.CLOSED.value:
        stored["closed_at"] = now
    if source is not None:
        stored["source_signal_key"] = source.key
        stored["source_signal"] = source.snapshot()
    risk = store.insert_risk(session, {**stored, "created_by": actor, "updated_by": actor}, now=now)
    store.replace_links(session, risk.id, targets, now=now)
    changes = diff({}, fields)
    if targets:
        changes["links"] = {"added": _link_text(targets), "removed": []}
    if source is not None:
        changes["source_signal_key"] = {"old": None, "new": source.key}
    store.add_change(
        session,
        risk.id,
        action="promoted" if source is not None else "created",
        changes=changes,
        now=now,
        actor=actor,
    )
    return load_risk(session, risk.id, now=now, settings=settings, goal_facts=goal_facts)


def update_risk(
    session: Session,
    risk_id: int,
    changes: Mapping[str, Any],
    links: Iterable[tuple[str, int]] | None = None,
    *,
    now: datetime,
    actor: str | None,
    settings: RiskSettings,
    goal_facts: GoalFacts,
) -> RiskView:
    """Apply a partial change; fields absent from ``changes`` keep their value, ``links``
    (when given) replace the risk's links. A change that changes nothing records nothing."""
    risk = store.get_risk(session, risk_id, for_update=True)
    before = _current(risk)
    after = before | _clean(changes)
    validate(after, settings)
    changed = diff(before, after)
    link_change: dict[str, list[str]] | None = None
    if links is not None:
        added, removed = store.replace_links(
            session, risk_id, _targets(session, links, goal_facts), now=now
        )
        if added or removed:
            link_change = {"added": _link_text(added), "removed": _link_text(removed)}
    if not changed and link_change is None:
        return load_risk(session, risk_id, now=now, settings=settings, goal_facts=goal_facts)
    for name, value in _stored(after).items():
        setattr(risk, name, value)
    if "status" in changed:
        risk.closed_at = now if after["status"] == RiskStatus.CLOSED.value else None
    risk.updated_at = now
    risk.updated_by = actor
    if link_change is not None:
        changed["links"] = link_change
    store.add_change(session, risk_id, action="updated", changes=changed, now=now, actor=actor)
    session.flush()
    return load_risk(session, risk_id, now=now, settings=settings, goal_facts=goal_facts)


def promote(
    session: Session,
    signal_key: str,
    overrides: Mapping[str, Any],
    extra_links: Iterable[tuple[str, int]] = (),
    *,
    now: datetime,
    actor: str | None,
    settings: RiskSettings,
    goal_facts: GoalFacts,
    goal_id: int | None = None,
) -> RiskView:
    """A risk from a live signal: its suggested probability and impact, its reason as the
    description, links to everything it concerns (and to ``goal_id``, whose thresholds judged
    it); ``overrides`` win over each suggestion. One open risk per signal."""
    found = require_signal(
        session, signal_key, now=now, settings=settings, goal_facts=goal_facts, goal_id=goal_id
    )
    signal = found.signal
    existing = store.list_risks(
        session,
        store.RiskFilters(statuses=[RiskStatus.OPEN.value], source_signal_keys=[signal.key]),
        after_id=None,
        limit=1,
    )
    if existing:
        raise Conflict(
            f"signal {signal.key} is already in the register as risk {existing[0].id}; "
            f"PATCH /v1/risks/{existing[0].id} to change it",
            field="signal_key",
            risk_id=existing[0].id,
        )
    values = {
        "title": f"{signal.kind.value.replace('_', ' ').capitalize()}: {signal.subject.title}"[
            :200
        ],
        "description": signal.reason,
        "category": CATEGORY_OF_KIND[signal.kind],
        "probability": signal.probability,
        "impact": signal.impact,
    } | dict(overrides)
    links: list[tuple[str, int]] = [
        (ref.type, ref.id)
        for ref in (*signal.items, *signal.milestones, *signal.goals)
        if ref.type in {t.value for t in TargetType}
    ]
    if goal_id is not None:
        links.append((TargetType.GOAL.value, goal_id))
    links += list(extra_links)
    return create_risk(
        session,
        values,
        links,
        now=now,
        actor=actor,
        settings=settings,
        goal_facts=goal_facts,
        source=signal,
    )


# -- reading -------------------------------------------------------------------------------
def load_risk(
    session: Session,
    risk_id: int,
    *,
    now: datetime,
    settings: RiskSettings,
    goal_facts: GoalFacts,
    with_signal: bool = False,
) -> RiskView:
    """One risk; ``with_signal`` also says whether its source signal still fires."""
    risk = store.get_risk(session, risk_id)
    (view,) = views_of(session, [risk], now=now, settings=settings, goal_facts=goal_facts)
    if with_signal and risk.source_signal_key is not None:
        active = (
            find_signal(
                session, risk.source_signal_key, now=now, settings=settings, goal_facts=goal_facts
            )
            is not None
        )
        view = dataclasses.replace(view, source_signal_active=active)
    return view


@dataclass(frozen=True, slots=True)
class RiskQuery:
    statuses: Sequence[str] = ()
    severities: Sequence[Severity] = ()
    owners: Sequence[str] = ()
    categories: Sequence[str] = ()
    goal_ids: Sequence[int] = ()
    review_overdue: bool = False
    updated_since: datetime | None = None


def risk_ids_for_goals(
    session: Session, goal_ids: Collection[int], goal_facts: GoalFacts
) -> set[int]:
    """Risks linked to the goals, or to an item or milestone of their scopes (any status)."""
    known = {g.id for g in goal_facts.goals(sorted(goal_ids))}
    missing = sorted(set(goal_ids) - known)
    if missing:
        raise InvalidRequest(f"goal: no goal {missing[0]}; GET /v1/goals lists them", field="goal")
    scopes = [goal_facts.scope(g) for g in sorted(known)]
    items = set().union(*(s.item_ids for s in scopes))
    milestones = set().union(*(s.milestone_ids for s in scopes))
    result = set()
    for risk_id, kind, ref in store.all_links(session):
        if (
            (kind == TargetType.GOAL and ref in known)
            or (kind == TargetType.ITEM and ref in items)
            or (kind == TargetType.MILESTONE and ref in milestones)
        ):
            result.add(risk_id)
    return result


def list_risks(
    session: Session,
    query: RiskQuery,
    *,
    after_id: int | None,
    limit: int | None,
    now: datetime,
    settings: RiskSettings,
    goal_facts: GoalFacts,
) -> list[RiskView]:
    filters = store.RiskFilters(
        statuses=query.statuses,
        score_ranges=[settings.bands.scores(s) for s in query.severities],
        owners=query.owners,
        categories=query.categories,
        ids=risk_ids_for_goals(session, query.goal_ids, goal_facts) if query.goal_ids else None,
        review_before=now.date() if query.review_overdue else None,
        updated_since=query.updated_since,
    )
    rows = store.list_risks(session, filters, after_id=after_id, limit=limit)
    return views_of(session, rows, now=now, settings=settings, goal_facts=goal_facts)


def risk_history(session: Session, risk_id: int) -> list[RiskChange]:
    store.get_risk(session, risk_id)
    return store.changes_of(session, risk_id)
