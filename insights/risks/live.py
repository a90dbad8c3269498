"""Live signals: read the candidates from the store, decide with the pure functions of
:mod:`insights.risks.signals`, then filter, assess (severity band, covering risks) and order.

Goals are read through :class:`insights.risks.goal_facts.GoalFacts` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from insights.risks.blockers import RAW_MARKERS, BlockerRef, blockers_in
from insights.risks.goal_facts import GoalFacts, GoalInfo, GoalScope, scope_union
from insights.risks.settings import RiskSettings, Severity, Thresholds
from insights.risks.signals import (
    CONNECTION_KINDS,
    GOAL_KINDS,
    ITEM_KINDS,
    KIND_ORDER,
    MILESTONE_KINDS,
    OPEN_CATEGORIES,
    Blocker,
    ConnectionFact,
    ItemFact,
    MilestoneFact,
    Signal,
    SignalKind,
    SubjectType,
    connection_signals,
    forecast_slip,
    item_signals,
    milestone_signals,
    parse_key,
    scope_creep,
)
from sync.errors import InvalidRequest, NotFound
from sync.store import risks as store

#: A goal scope up to this many items narrows the candidate query in SQL (``IN``); a larger
#: one is filtered after it.
IN_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class SignalQuery:
    goal_ids: Sequence[int] = ()
    connection_ids: Sequence[int] = ()
    project_ids: Sequence[int] = ()
    kinds: Sequence[SignalKind] = ()
    severities: Sequence[Severity] = ()
    #: True: only signals no open risk covers; False: only covered ones; None: all.
    unmanaged: bool | None = None
    #: Restrict to one subject (a signal's key names it): promotion and a risk's own signal.
    item_ids: Sequence[int] = ()
    milestone_ids: Sequence[int] = ()


@dataclass(frozen=True, slots=True)
class AssessedSignal:
    signal: Signal
    severity: Severity
    #: Open risks covering this signal: promoted from it, or entered by hand and linked to
    #: its subject (the item, milestone or goal).
    covered_by: tuple[int, ...]

    @property
    def managed(self) -> bool:
        return bool(self.covered_by)


@dataclass(frozen=True, slots=True)
class SignalReport:
    as_of: datetime
    signals: list[AssessedSignal]


def _item_fact(row: Mapping[str, Any], blockers: tuple[Blocker, ...]) -> ItemFact:
    return ItemFact(
        id=row["id"],
        title=row["title"],
        status_category=row["status_category"],
        connection_id=row["connection_id"],
        tool=row["tool"],
        updated_at=row["vendor_updated_at"],
        connection_name=row["connection_name"],
        key=row["key"],
        url=row["url"],
        project_id=row["project_id"],
        project_name=row["project_name"],
        status_name=row["status_name"],
        assignee_id=row["assignee_id"],
        assignee_name=row["assignee_name"],
        due_date=row["due_date"],
        blocked=bool(row["blocked"]),
        labels=tuple(row["labels"] or ()),
        priority=row["priority"],
        milestone_id=row["milestone_id"],
        milestone_name=row["milestone_name"],
        milestone_url=row["milestone_url"],
        blockers=blockers,
    )


def _load_items(
    session: Session,
    *,
    now: datetime,
    due_soon_days: int,
    stale_days: int,
    query: SignalQuery,
) -> list[ItemFact]:
    today = now.date()
    rows = store.signal_item_rows(
        session,
        due_until=today + timedelta(days=due_soon_days),
        stale_before=now - timedelta(days=stale_days),
        raw_markers=RAW_MARKERS,
        connection_ids=query.connection_ids,
        project_ids=query.project_ids,
        item_ids=query.item_ids,
    )
    # Blocking links: parse the raw payloads the SQL returned, then look their targets up in
    # one query per connection.
    refs: dict[int, tuple[BlockerRef, ...]] = {}
    wanted: dict[int, set[str]] = {}
    for row in rows:
        if row["raw"] is None:
            continue
        found = blockers_in(row["tool"], orjson.loads(row["raw"]))
        if found:
            refs[row["id"]] = found
            wanted.setdefault(row["connection_id"], set()).update(b.vendor_id for b in found)
    stored = {
        cid: store.items_by_vendor_id(session, cid, vendor_ids)
        for cid, vendor_ids in wanted.items()
    }
    facts = []
    for row in rows:
        blockers = []
        for ref in refs.get(row["id"], ()):
            known = stored.get(row["connection_id"], {}).get(ref.vendor_id)
            if known is None:
                blockers.append(Blocker(ref.vendor_id, ref.key, finished=ref.done))
                continue
            finished = known["deleted_at"] is not None or known["status_category"] not in (
                OPEN_CATEGORIES
            )
            blockers.append(
                Blocker(
                    ref.vendor_id,
                    known["key"] or ref.key,
                    known["title"],
                    known["url"],
                    known["id"],
                    finished,
                )
            )
        facts.append(_item_fact(row, tuple(blockers)))
    return facts


def _milestone_fact(row: Mapping[str, Any]) -> MilestoneFact:
    return MilestoneFact(
        id=row["id"],
        name=row["name"],
        connection_id=row["connection_id"],
        tool=row["tool"],
        due_date=row["due_date"],
        open_items=int(row["open_items"]),
        done_items=int(row["done_items"]),
        done_recently=int(row["done_recently"]),
        connection_name=row["connection_name"],
        url=row["url"],
        project_id=row["project_id"],
        project_name=row["project_name"],
    )


def _connection_fact(row: Mapping[str, Any]) -> ConnectionFact:
    return ConnectionFact(
        id=row["id"],
        name=row["name"],
        tool=row["tool"],
        state=row["state"],
        created_at=row["created_at"],
        last_success_at=row["last_success_at"],
        state_reason=row["state_reason"],
        updated_at=row["updated_at"],
        lost_items=int(row["lost_items"]),
        lost_since=row["lost_since"],
        lost_projects=int(row["lost_projects"]),
    )


def goal_thresholds(
    session: Session, goal_ids: Iterable[int], settings: RiskSettings
) -> dict[int, Thresholds]:
    """Each goal's thresholds: the settings, with the goal's overrides on top."""
    ids = list(goal_ids)
    overrides = store.goal_thresholds(session, ids)
    return {g: settings.thresholds.overridden(**overrides.get(g, {})) for g in ids}


def _touches(scope: GoalScope, query: SignalQuery) -> bool:
    if query.connection_ids and not scope.connection_ids & set(query.connection_ids):
        return False
    return not (query.project_ids and not scope.project_ids & set(query.project_ids))


def _coverage(session: Session) -> tuple[dict[str, list[int]], dict[tuple[str, int], list[int]]]:
    by_key: dict[str, list[int]] = {}
    for risk_id, key in store.open_sources(session):
        by_key.setdefault(key, []).append(risk_id)
    by_subject: dict[tuple[str, int], list[int]] = {}
    for risk_id, target_type, target_id in store.open_manual_links(session):
        by_subject.setdefault((target_type, target_id), []).append(risk_id)
    return by_key, by_subject


def live_signals(
    session: Session,
    query: SignalQuery,
    *,
    now: datetime,
    settings: RiskSettings,
    goal_facts: GoalFacts,
) -> SignalReport:
    """The signals firing now, filtered, each with its severity and the risks covering it.

    Without a goal filter, item signals use the global thresholds; with one, the items of each
    goal's scope are judged by that goal's thresholds. Goal signals come from every active goal
    (or the goals asked for), each with its own thresholds."""
    today = now.date()
    kinds = set(query.kinds) or set(SignalKind)
    found: dict[str, Signal] = {}

    goals: list[GoalInfo] = []
    if query.goal_ids:
        goals = goal_facts.goals(query.goal_ids)
        missing = sorted(set(query.goal_ids) - {g.id for g in goals})
        if missing:
            raise InvalidRequest(
                f"goal: no goal {missing[0]}; GET /v1/goals lists them", field="goal"
            )
    elif kinds & GOAL_KINDS and not (query.item_ids or query.milestone_ids):
        goals = goal_facts.goals(None)
    thresholds = goal_thresholds(session, [g.id for g in goals], settings)
    scopes = (
        {g.id: goal_facts.scope(g.id) for g in goals}
        if query.goal_ids or query.connection_ids or query.project_ids
        else {}
    )

    in_goals = scope_union([scopes[g.id] for g in goals]) if query.goal_ids else None
    if kinds & ITEM_KINDS and not query.milestone_ids and (in_goals is None or in_goals.item_ids):
        judged = (
            [(thresholds[g.id], scopes[g.id].item_ids) for g in goals]
            if query.goal_ids
            else [(settings.thresholds, None)]
        )
        narrowed = query
        if in_goals is not None and not query.item_ids and len(in_goals.item_ids) <= IN_LIMIT:
            narrowed = dataclasses.replace(query, item_ids=sorted(in_goals.item_ids))
        items = _load_items(
            session,
            now=now,
            due_soon_days=max(t.due_soon_days for t, _ in judged),
            stale_days=min(t.stale_days for t, _ in judged),
            query=narrowed,
        )
        for limits, in_scope in judged:
            for item in items:
                if in_scope is not None and item.id not in in_scope:
                    continue
                for signal in item_signals(item, now=now, thresholds=limits, kinds=kinds):
                    found.setdefault(signal.key, signal)

    if kinds & MILESTONE_KINDS and not query.item_ids:
        milestone_scope = None if in_goals is None else in_goals.milestone_ids
        rows = store.signal_milestone_rows(
            session,
            done_since=now - timedelta(days=settings.milestone_pace_days),
            connection_ids=query.connection_ids,
            project_ids=query.project_ids,
            milestone_ids=query.milestone_ids,
        )
        for row in rows:
            if milestone_scope is not None and row["id"] not in milestone_scope:
                continue
            for signal in milestone_signals(
                _milestone_fact(row),
                today=today,
                pace_days=settings.milestone_pace_days,
                kinds=kinds,
            ):
                found.setdefault(signal.key, signal)

    if kinds & CONNECTION_KINDS and not (query.item_ids or query.milestone_ids):
        wanted = set(query.connection_ids)
        if query.project_ids:
            owners = store.connections_of_projects(session, query.project_ids)
            wanted = wanted & owners if wanted else owners
        if in_goals is not None:
            wanted = wanted & in_goals.connection_ids if wanted else set(in_goals.connection_ids)
        restricted = bool(query.connection_ids or query.project_ids or query.goal_ids)
        if not restricted or wanted:
            for row in store.connection_health_rows(session, sorted(wanted)):
                fact = _connection_fact(row)
                for signal in connection_signals(
                    fact, now=now, stale_hours=settings.stale_hours_for(fact.name), kinds=kinds
                ):
                    found.setdefault(signal.key, signal)

    for goal in goals:
        if not kinds & GOAL_KINDS:
            break
        if scopes and not query.goal_ids and not _touches(scopes[goal.id], query):
            continue
        limits = thresholds[goal.id]
        candidates: list[Signal | None] = []
        if SignalKind.SCOPE_CREEP in kinds:
            candidates.append(
                scope_creep(goal, goal_facts.scope_line(goal.id), pct=limits.scope_creep_pct)
            )
        if SignalKind.FORECAST_SLIP in kinds and goal.due_date is not None:
            candidates.append(
                forecast_slip(
                    goal, goal_facts.forecast(goal.id), grace_days=limits.forecast_slip_days
                )
            )
        for candidate in candidates:
            if candidate is not None:
                found.setdefault(candidate.key, candidate)

    return SignalReport(as_of=now, signals=assess(session, found.values(), query, settings))


def assess(
    session: Session, signals: Iterable[Signal], query: SignalQuery, settings: RiskSettings
) -> list[AssessedSignal]:
    """Severity and coverage for each signal, the severity and managed filters, and the
    order people read them in: most severe first, then by kind, oldest first."""
    by_key, by_subject = _coverage(session)
    bands = settings.bands
    wanted = set(query.severities)
    result = []
    for signal in signals:
        severity = bands.of(signal.score)
        if wanted and severity not in wanted:
            continue
        covered = sorted(
            set(by_key.get(signal.key, ()))
            | set(by_subject.get((signal.subject.type, signal.subject.id), ()))
        )
        if query.unmanaged is True and covered:
            continue
        if query.unmanaged is False and not covered:
            continue
        result.append(AssessedSignal(signal, severity, tuple(covered)))
    far_future = datetime.max.replace(tzinfo=UTC)
    result.sort(
        key=lambda a: (
            -a.signal.score,
            KIND_ORDER[a.signal.kind],
            a.signal.since or far_future,
            a.signal.subject.id,
        )
    )
    return result


def find_signal(
    session: Session,
    key: str,
    *,
    now: datetime,
    settings: RiskSettings,
    goal_facts: GoalFacts,
    goal_id: int | None = None,
) -> AssessedSignal | None:
    """The signal with this key if it fires now (under ``goal_id``'s thresholds if given)."""
    parsed = parse_key(key)
    query = SignalQuery(kinds=(parsed.kind,), goal_ids=() if goal_id is None else (goal_id,))
    if parsed.subject_type is SubjectType.ITEM:
        query = dataclasses.replace(query, item_ids=(parsed.subject_id,))
    elif parsed.subject_type is SubjectType.MILESTONE:
        query = dataclasses.replace(query, milestone_ids=(parsed.subject_id,))
    elif parsed.subject_type is SubjectType.CONNECTION:
        query = dataclasses.replace(query, connection_ids=(parsed.subject_id,))
    elif goal_id is None:
        query = dataclasses.replace(query, goal_ids=(parsed.subject_id,))
    elif goal_id != parsed.subject_id:
        return None
    try:
        report = live_signals(session, query, now=now, settings=settings, goal_facts=goal_facts)
    except InvalidRequest:
        if parsed.subject_type is SubjectType.GOAL:
            return None  # the goal is gone, and with it its signals
        raise
    return next((a for a in report.signals if a.signal.key == key), None)


def require_signal(
    session: Session,
    key: str,
    *,
    now: datetime,
    settings: RiskSettings,
    goal_facts: GoalFacts,
    goal_id: int | None = None,
) -> AssessedSignal:
    found = find_signal(
        session, key, now=now, settings=settings, goal_facts=goal_facts, goal_id=goal_id
    )
    if found is None:
        raise NotFound(
            f"no live signal {key}: it does not fire now (it may have resolved); "
            "GET /v1/risks/signals lists the signals firing",
            signal_key=key,
        )
    return found
