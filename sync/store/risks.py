"""Risks: the register's repository, and the SQL that live signals are computed from.

Signals are never stored. The queries below narrow the unified data to candidates (open items
that are due soon, blocked, stale, or carry blocking links; open milestones; connections with
their lost records) with thresholds loose enough for every goal's overrides; the pure
functions in ``insights.risks.signals`` decide which candidates fire.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, false, func, null, or_, select
from sqlalchemy.orm import Session, aliased

from sync.errors import NotFound
from sync.model import StatusCategory
from sync.store import tables as t
from sync.store.risk_tables import Risk, RiskChange, RiskGoalThreshold, RiskLink

OPEN_CATEGORIES = (StatusCategory.TODO.value, StatusCategory.IN_PROGRESS.value)
DONE = StatusCategory.DONE.value
OPEN = "open"


def _in(column: Any, values: Collection[Any] | None) -> list[ColumnElement[bool]]:
    """``column IN values`` when a restriction is given (``None`` or empty: no restriction)."""
    return [column.in_(sorted(values))] if values else []


# -- signal candidates ---------------------------------------------------------------------
def signal_item_rows(
    session: Session,
    *,
    due_until: date,
    stale_before: datetime,
    raw_markers: Mapping[str, str],
    connection_ids: Collection[int] = (),
    project_ids: Collection[int] = (),
    item_ids: Collection[int] = (),
) -> list[dict[str, Any]]:
    """Live open items that may fire an item signal: due on or before ``due_until`` (overdue
    or due soon), blocked, in progress and untouched since ``stale_before``, or holding a
    blocking link (raw text containing its tool's marker; only then is ``raw`` returned)."""
    item, connection, project, person, milestone = (
        t.WorkItem,
        t.Connection,
        t.Project,
        t.Person,
        t.Milestone,
    )
    has_links: ColumnElement[bool] = or_(
        false(),
        *(
            and_(item.tool == tool, item.raw.contains(marker, autoescape=True))
            for tool, marker in raw_markers.items()
        ),
    )
    query = (
        select(
            item.id,
            item.connection_id,
            connection.name.label("connection_name"),
            item.tool,
            item.key,
            item.title,
            item.url,
            item.project_id,
            project.name.label("project_name"),
            item.status_name,
            item.status_category,
            item.assignee_id,
            person.display_name.label("assignee_name"),
            item.due_date,
            item.vendor_updated_at,
            item.blocked,
            item.labels,
            item.priority,
            item.milestone_id,
            milestone.name.label("milestone_name"),
            milestone.url.label("milestone_url"),
            case((has_links, item.raw), else_=null()).label("raw"),
        )
        .join(connection, connection.id == item.connection_id)
        .outerjoin(project, project.id == item.project_id)
        .outerjoin(person, person.id == item.assignee_id)
        .outerjoin(milestone, milestone.id == item.milestone_id)
        .where(
            item.deleted_at.is_(None),
            item.access_lost_at.is_(None),
            item.status_category.in_(OPEN_CATEGORIES),
            or_(
                item.due_date <= due_until,
                item.blocked.is_(True),
                and_(
                    item.status_category == StatusCategory.IN_PROGRESS.value,
                    item.vendor_updated_at <= stale_before,
                ),
                has_links,
            ),
            *_in(item.connection_id, connection_ids),
            *_in(item.project_id, project_ids),
            *_in(item.id, item_ids),
        )
        .order_by(item.id)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def items_by_vendor_id(
    session: Session, connection_id: int, vendor_ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """Stored items of one connection by vendor id (live or not): blockers' states."""
    if not vendor_ids:
        return {}
    item = t.WorkItem
    query = select(
        item.id,
        item.vendor_id,
        item.key,
        item.title,
        item.url,
        item.status_category,
        item.deleted_at,
    ).where(item.connection_id == connection_id, item.vendor_id.in_(sorted(vendor_ids)))
    return {row.vendor_id: dict(row._mapping) for row in session.execute(query)}


def signal_milestone_rows(
    session: Session,
    *,
    done_since: datetime,
    connection_ids: Collection[int] = (),
    project_ids: Collection[int] = (),
    milestone_ids: Collection[int] = (),
) -> list[dict[str, Any]]:
    """Live, unreached, unarchived milestones with a due date, with their open items, done
    items, and items done since ``done_since`` (the recent pace)."""
    milestone, connection, project, item = t.Milestone, t.Connection, t.Project, t.WorkItem
    live_item = and_(item.deleted_at.is_(None), item.access_lost_at.is_(None))
    counts = (
        select(
            item.milestone_id.label("milestone_id"),
            func.sum(case((item.status_category.in_(OPEN_CATEGORIES), 1), else_=0)).label(
                "open_items"
            ),
            func.sum(case((item.status_category == DONE, 1), else_=0)).label("done_items"),
            func.sum(
                case(
                    (and_(item.status_category == DONE, item.completed_at >= done_since), 1),
                    else_=0,
                )
            ).label("done_recently"),
        )
        .where(item.milestone_id.is_not(None), live_item)
        .group_by(item.milestone_id)
        .subquery()
    )
    query = (
        select(
            milestone.id,
            milestone.connection_id,
            connection.name.label("connection_name"),
            connection.tool,
            milestone.name,
            milestone.url,
            milestone.project_id,
            project.name.label("project_name"),
            milestone.due_date,
            func.coalesce(counts.c.open_items, 0).label("open_items"),
            func.coalesce(counts.c.done_items, 0).label("done_items"),
            func.coalesce(counts.c.done_recently, 0).label("done_recently"),
        )
        .join(connection, connection.id == milestone.connection_id)
        .outerjoin(project, project.id == milestone.project_id)
        .outerjoin(counts, counts.c.milestone_id == milestone.id)
        .where(
            milestone.deleted_at.is_(None),
            milestone.access_lost_at.is_(None),
            milestone.reached.is_(False),
            milestone.archived.is_(False),
            milestone.due_date.is_not(None),
            *_in(milestone.connection_id, connection_ids),
            *_in(milestone.project_id, project_ids),
            *_in(milestone.id, milestone_ids),
        )
        .order_by(milestone.id)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def connection_health_rows(
    session: Session, connection_ids: Collection[int] = ()
) -> list[dict[str, Any]]:
    """Every connection with its sync recency, state, and the records it can no longer see
    (access lost, not deleted): how many, since when."""
    connection, item, project = t.Connection, t.WorkItem, t.Project
    lost = and_(item.access_lost_at.is_not(None), item.deleted_at.is_(None))
    lost_items = (
        select(
            item.connection_id.label("connection_id"),
            func.count().label("lost_items"),
            func.min(item.access_lost_at).label("lost_since"),
        )
        .where(lost)
        .group_by(item.connection_id)
        .subquery()
    )
    lost_projects = (
        select(project.connection_id.label("connection_id"), func.count().label("lost_projects"))
        .where(project.access_lost_at.is_not(None), project.deleted_at.is_(None))
        .group_by(project.connection_id)
        .subquery()
    )
    query = (
        select(
            connection.id,
            connection.name,
            connection.tool,
            connection.state,
            connection.state_reason,
            connection.created_at,
            connection.updated_at,
            connection.last_success_at,
            func.coalesce(lost_items.c.lost_items, 0).label("lost_items"),
            lost_items.c.lost_since,
            func.coalesce(lost_projects.c.lost_projects, 0).label("lost_projects"),
        )
        .outerjoin(lost_items, lost_items.c.connection_id == connection.id)
        .outerjoin(lost_projects, lost_projects.c.connection_id == connection.id)
        .where(*_in(connection.id, connection_ids))
        .order_by(connection.id)
    )
    rows = []
    for row in session.execute(query):
        values = dict(row._mapping)
        values["lost_since"] = _aware(values["lost_since"])
        rows.append(values)
    return rows


def _aware(value: datetime | str | None) -> datetime | None:
    """An aggregate's time, as aware UTC whatever the backend handed back."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def connections_of_projects(session: Session, project_ids: Collection[int]) -> set[int]:
    if not project_ids:
        return set()
    return set(
        session.scalars(
            select(t.Project.connection_id).where(t.Project.id.in_(sorted(project_ids)))
        )
    )


def scope_rows(session: Session, condition: ColumnElement[bool]) -> list[tuple[int, ...]]:
    """``(id, milestone_id, connection_id, project_id)`` of the live items matching a
    condition over ``work_item`` (a goal's scope, as its own module builds it)."""
    item = t.WorkItem
    query = select(item.id, item.milestone_id, item.connection_id, item.project_id).where(
        condition, item.deleted_at.is_(None), item.access_lost_at.is_(None)
    )
    return [tuple(row) for row in session.execute(query)]


# -- the register --------------------------------------------------------------------------
def insert_risk(session: Session, values: Mapping[str, Any], *, now: datetime) -> Risk:
    risk = Risk(**values, created_at=now, updated_at=now)
    session.add(risk)
    session.flush()
    return risk


def get_risk(session: Session, risk_id: int, *, for_update: bool = False) -> Risk:
    query = select(Risk).where(Risk.id == risk_id)
    if for_update:
        query = query.with_for_update()
    risk = session.scalar(query)
    if risk is None:
        raise NotFound(f"no risk {risk_id}; GET /v1/risks lists them", risk_id=risk_id)
    return risk


@dataclass(frozen=True, slots=True)
class RiskFilters:
    statuses: Sequence[str] = ()
    #: Inclusive score ranges, any of which matches (the severity bands asked for).
    score_ranges: Sequence[tuple[int, int]] = ()
    owners: Sequence[str] = ()
    categories: Sequence[str] = ()
    #: Only these ids (``None``: no restriction; empty: nothing).
    ids: Collection[int] | None = None
    #: Open risks whose review date is before this day.
    review_before: date | None = None
    updated_since: datetime | None = None
    source_signal_keys: Sequence[str] = field(default_factory=tuple)


def list_risks(
    session: Session, filters: RiskFilters, *, after_id: int | None, limit: int | None
) -> list[Risk]:
    conditions: list[ColumnElement[bool]] = []
    if filters.ids is not None:
        if not filters.ids:
            return []
        conditions.append(Risk.id.in_(sorted(filters.ids)))
    conditions += _in(Risk.status, filters.statuses)
    conditions += _in(func.lower(Risk.owner), [o.lower() for o in filters.owners])
    conditions += _in(func.lower(Risk.category), [c.lower() for c in filters.categories])
    conditions += _in(Risk.source_signal_key, filters.source_signal_keys)
    if filters.score_ranges:
        conditions.append(or_(*(Risk.score.between(lo, hi) for lo, hi in filters.score_ranges)))
    if filters.review_before is not None:
        conditions += [Risk.status == OPEN, Risk.review_date < filters.review_before]
    if filters.updated_since is not None:
        conditions.append(Risk.updated_at >= filters.updated_since)
    if after_id is not None:
        conditions.append(Risk.id > after_id)
    query = select(Risk).where(*conditions).order_by(Risk.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


Target = tuple[str, int]


def links_of(session: Session, risk_ids: Iterable[int]) -> dict[int, list[Target]]:
    wanted = sorted(set(risk_ids))
    result: dict[int, list[Target]] = {r: [] for r in wanted}
    if not wanted:
        return result
    query = (
        select(RiskLink.risk_id, RiskLink.target_type, RiskLink.target_id)
        .where(RiskLink.risk_id.in_(wanted))
        .order_by(RiskLink.risk_id, RiskLink.target_type, RiskLink.target_id)
    )
    for risk_id, target_type, target_id in session.execute(query):
        result[risk_id].append((target_type, target_id))
    return result


def replace_links(
    session: Session, risk_id: int, targets: Sequence[Target], *, now: datetime
) -> tuple[list[Target], list[Target]]:
    """Make the risk's links exactly ``targets``; returns (added, removed)."""
    current = set(links_of(session, [risk_id])[risk_id])
    wanted = set(targets)
    added, removed = sorted(wanted - current), sorted(current - wanted)
    for target_type, target_id in removed:
        session.execute(
            delete(RiskLink).where(
                RiskLink.risk_id == risk_id,
                RiskLink.target_type == target_type,
                RiskLink.target_id == target_id,
            )
        )
    session.add_all(
        RiskLink(risk_id=risk_id, target_type=kind, target_id=ref, created_at=now)
        for kind, ref in added
    )
    session.flush()
    return added, removed


def open_manual_links(session: Session) -> list[tuple[int, str, int]]:
    """``(risk_id, target_type, target_id)`` of the links of open risks entered by hand (not
    promoted from a signal). Registers are people-sized: hundreds of rows, not millions."""
    query = (
        select(RiskLink.risk_id, RiskLink.target_type, RiskLink.target_id)
        .join(Risk, Risk.id == RiskLink.risk_id)
        .where(Risk.status == OPEN, Risk.source_signal_key.is_(None))
        .order_by(RiskLink.risk_id)
    )
    return [(r, k, i) for r, k, i in session.execute(query)]


def all_links(session: Session) -> list[tuple[int, str, int]]:
    query = select(RiskLink.risk_id, RiskLink.target_type, RiskLink.target_id).order_by(
        RiskLink.risk_id
    )
    return [(r, k, i) for r, k, i in session.execute(query)]


def open_sources(session: Session) -> list[tuple[int, str]]:
    """``(risk_id, source_signal_key)`` of open risks promoted from a signal."""
    query = (
        select(Risk.id, Risk.source_signal_key)
        .where(Risk.status == OPEN, Risk.source_signal_key.is_not(None))
        .order_by(Risk.id)
    )
    return [(r, str(k)) for r, k in session.execute(query)]


def add_change(
    session: Session,
    risk_id: int,
    *,
    action: str,
    changes: Mapping[str, Any],
    now: datetime,
    actor: str | None,
) -> None:
    session.add(
        RiskChange(
            risk_id=risk_id, changed_at=now, changed_by=actor, action=action, changes=dict(changes)
        )
    )


def changes_of(session: Session, risk_id: int) -> list[RiskChange]:
    query = select(RiskChange).where(RiskChange.risk_id == risk_id).order_by(RiskChange.id)
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class TargetRow:
    id: int
    title: str
    key: str | None
    url: str | None
    tool: str | None


def item_refs(session: Session, ids: Collection[int]) -> dict[int, TargetRow]:
    if not ids:
        return {}
    item = t.WorkItem
    query = select(item.id, item.title, item.key, item.url, item.tool).where(
        item.id.in_(sorted(ids))
    )
    return {
        row.id: TargetRow(row.id, row.title, row.key, row.url, row.tool)
        for row in session.execute(query)
    }


def milestone_refs(session: Session, ids: Collection[int]) -> dict[int, TargetRow]:
    if not ids:
        return {}
    milestone, connection = t.Milestone, aliased(t.Connection)
    query = (
        select(milestone.id, milestone.name, milestone.url, connection.tool)
        .join(connection, connection.id == milestone.connection_id)
        .where(milestone.id.in_(sorted(ids)))
    )
    return {
        row.id: TargetRow(row.id, row.name, None, row.url, row.tool)
        for row in session.execute(query)
    }


def open_risk_scores(
    session: Session, risk_ids: Collection[int] | None = None
) -> list[tuple[int, int, int, int | None, int | None]]:
    """``(id, probability, impact, residual_probability, residual_impact)`` of open risks."""
    conditions: list[ColumnElement[bool]] = [Risk.status == OPEN]
    if risk_ids is not None:
        if not risk_ids:
            return []
        conditions.append(Risk.id.in_(sorted(risk_ids)))
    query = (
        select(
            Risk.id, Risk.probability, Risk.impact, Risk.residual_probability, Risk.residual_impact
        )
        .where(*conditions)
        .order_by(Risk.id)
    )
    return [(a, b, c, d, e) for a, b, c, d, e in session.execute(query)]


# -- per-goal thresholds -------------------------------------------------------------------
THRESHOLD_FIELDS = ("due_soon_days", "stale_days", "scope_creep_pct", "forecast_slip_days")


def goal_thresholds(session: Session, goal_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(set(goal_ids))
    if not wanted:
        return {}
    rows = session.scalars(select(RiskGoalThreshold).where(RiskGoalThreshold.goal_id.in_(wanted)))
    return {row.goal_id: {f: getattr(row, f) for f in THRESHOLD_FIELDS} for row in rows}


def set_goal_thresholds(
    session: Session, goal_id: int, values: Mapping[str, Any], *, now: datetime, actor: str | None
) -> None:
    row = session.get(RiskGoalThreshold, goal_id)
    if row is None:
        row = RiskGoalThreshold(goal_id=goal_id)
        session.add(row)
    for name in THRESHOLD_FIELDS:
        setattr(row, name, values.get(name))
    row.updated_at = now
    row.updated_by = actor
    session.flush()
