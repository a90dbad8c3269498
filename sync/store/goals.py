"""Goals: the repository, and the SQL that resolves a goal's scope to work items and milestones.

A scope is a list of selectors. Within a selector every given field must match (labels: the
item carries all of them; types: the item's type is one of them); across selectors any. The
whole scope is one ``WHERE (s1) OR (s2) ...`` over ``work_item``, so an item matched by two
selectors is one row and counts once, and every aggregate is a single pass over the items
the selectors' indexed columns (connection, project, milestone, assignee) narrow down to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from sync.errors import NotFound
from sync.model import StatusCategory
from sync.store import tables as t
from sync.store.goal_tables import Goal, GoalMeasurement, GoalSelector, GoalSnapshot

DONE = StatusCategory.DONE.value
CANCELLED = StatusCategory.CANCELLED.value


@dataclass(frozen=True, slots=True)
class ScopeSelector:
    """One selector; ``None`` and empty fields do not constrain."""

    connection_id: int | None = None
    project_id: int | None = None
    milestone_id: int | None = None
    assignee_id: int | None = None
    labels: tuple[str, ...] = ()
    item_types: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (
            self.connection_id or self.project_id or self.milestone_id or self.assignee_id
        ) and not (self.labels or self.item_types)

    @property
    def names_item_fields(self) -> bool:
        """Fields only work items have: such a selector cannot pick a milestone."""
        return bool(self.labels or self.item_types or self.assignee_id is not None)


# -- goals ---------------------------------------------------------------------------------
def insert_goal(
    session: Session, values: dict[str, Any], selectors: Sequence[ScopeSelector], *, now: datetime
) -> Goal:
    goal = Goal(**values, created_at=now, updated_at=now)
    session.add(goal)
    session.flush()
    replace_selectors(session, goal.id, selectors)
    return goal


def update_goal(
    session: Session,
    goal: Goal,
    values: dict[str, Any],
    selectors: Sequence[ScopeSelector] | None,
    *,
    now: datetime,
) -> Goal:
    for name, value in values.items():
        setattr(goal, name, value)
    goal.updated_at = now
    if selectors is not None:
        replace_selectors(session, goal.id, selectors)
    session.flush()
    return goal


def replace_selectors(session: Session, goal_id: int, selectors: Sequence[ScopeSelector]) -> None:
    session.execute(delete(GoalSelector).where(GoalSelector.goal_id == goal_id))
    for position, s in enumerate(selectors):
        session.add(
            GoalSelector(
                goal_id=goal_id,
                position=position,
                connection_id=s.connection_id,
                project_id=s.project_id,
                milestone_id=s.milestone_id,
                assignee_id=s.assignee_id,
                labels=list(s.labels),
                item_types=list(s.item_types),
            )
        )
    session.flush()


def get_goal(session: Session, goal_id: int) -> Goal:
    goal = session.get(Goal, goal_id)
    if goal is None:
        raise NotFound(f"no goal {goal_id}", goal_id=goal_id)
    return goal


def goals_by_id(session: Session, goal_ids: Iterable[int]) -> dict[int, Goal]:
    wanted = sorted(set(goal_ids))
    if not wanted:
        return {}
    return {g.id: g for g in session.scalars(select(Goal).where(Goal.id.in_(wanted)))}


@dataclass(frozen=True, slots=True)
class GoalFilters:
    statuses: Sequence[str] = ()
    metrics: Sequence[str] = ()
    owner: str | None = None
    parent_id: int | None = None


def list_goals(
    session: Session, filters: GoalFilters, *, after_id: int | None, limit: int
) -> list[Goal]:
    query = select(Goal)
    if filters.statuses:
        query = query.where(Goal.status.in_(filters.statuses))
    if filters.metrics:
        query = query.where(Goal.metric.in_(filters.metrics))
    if filters.owner is not None:
        query = query.where(Goal.owner == filters.owner)
    if filters.parent_id is not None:
        query = query.where(Goal.parent_id == filters.parent_id)
    if after_id is not None:
        query = query.where(Goal.id > after_id)
    return list(session.scalars(query.order_by(Goal.id).limit(limit)))


def selectors_of(session: Session, goal_ids: Iterable[int]) -> dict[int, list[ScopeSelector]]:
    wanted = sorted(set(goal_ids))
    result: dict[int, list[ScopeSelector]] = {g: [] for g in wanted}
    if not wanted:
        return result
    rows = session.scalars(
        select(GoalSelector)
        .where(GoalSelector.goal_id.in_(wanted))
        .order_by(GoalSelector.goal_id, GoalSelector.position)
    )
    for row in rows:
        result[row.goal_id].append(_selector(row))
    return result


def goals_with_selectors(
    session: Session, goal_ids: Iterable[int]
) -> tuple[dict[int, Row[Any]], dict[int, list[ScopeSelector]]]:
    """Goals (rows with a goal's attributes) and their selectors in one round trip: what every
    rollup starts with. Core rows, not ORM objects: a rollup only reads them."""
    wanted = sorted(set(goal_ids))
    goals: dict[int, Row[Any]] = {}
    selectors: dict[int, list[ScopeSelector]] = {}
    if not wanted:
        return goals, selectors
    for row in session.connection().execute(_GOALS_WITH_SELECTORS, {"ids": wanted}):
        goal_id = row.id
        if goal_id not in goals:
            goals[goal_id] = row
        found = selectors.setdefault(goal_id, [])
        if row.s_position is not None:
            found.append(_selector(row, prefix="s_"))
    return goals, selectors


_SELECTOR_COLUMNS = (
    "position",
    "connection_id",
    "project_id",
    "milestone_id",
    "assignee_id",
    "labels",
    "item_types",
)
_GOALS_WITH_SELECTORS = (
    select(
        Goal.__table__,
        *(GoalSelector.__table__.c[name].label(f"s_{name}") for name in _SELECTOR_COLUMNS),
    )
    .outerjoin(GoalSelector.__table__, GoalSelector.goal_id == Goal.id)
    .where(Goal.id.in_(bindparam("ids", expanding=True)))
    .order_by(Goal.id, GoalSelector.position)
)


def _selector(row: GoalSelector | Row[Any], prefix: str = "") -> ScopeSelector:
    """From a ``goal_selector`` row, or a joined row naming its columns ``{prefix}name``."""

    def value(name: str) -> Any:
        return getattr(row, prefix + name)

    return ScopeSelector(
        connection_id=value("connection_id"),
        project_id=value("project_id"),
        milestone_id=value("milestone_id"),
        assignee_id=value("assignee_id"),
        labels=tuple(value("labels") or ()),
        item_types=tuple(value("item_types") or ()),
    )


def children_of(session: Session, goal_ids: Iterable[int]) -> dict[int, list[int]]:
    wanted = sorted(set(goal_ids))
    result: dict[int, list[int]] = {g: [] for g in wanted}
    if not wanted:
        return result
    for child_id, parent_id in session.execute(
        select(Goal.id, Goal.parent_id).where(Goal.parent_id.in_(wanted)).order_by(Goal.id)
    ):
        result[parent_id].append(child_id)
    return result


def ancestors(session: Session, goal_id: int) -> list[int]:
    """The chain of parents above ``goal_id``, nearest first; stops after a repeat."""
    chain: list[int] = []
    seen = {goal_id}
    current = goal_id
    while True:
        parent = session.scalar(select(Goal.parent_id).where(Goal.id == current))
        if parent is None:
            return chain
        chain.append(parent)
        if parent in seen:
            return chain
        seen.add(parent)
        current = parent


def delete_goal(session: Session, goal: Goal) -> None:
    session.delete(goal)
    session.flush()


def goal_ids_with_status(session: Session, statuses: Sequence[str]) -> list[int]:
    return list(session.scalars(select(Goal.id).where(Goal.status.in_(statuses)).order_by(Goal.id)))


# -- references named by selectors ---------------------------------------------------------
def existing_ids(session: Session, model: type[t.Base], ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    column: Any = model.id  # type: ignore[attr-defined]
    return set(session.scalars(select(column).where(column.in_(wanted))))


def owners_of(
    session: Session, model: type[t.Project] | type[t.Milestone], ids: Iterable[int]
) -> dict[int, int]:
    """Record id -> its connection id, for projects and milestones."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(model.id, model.connection_id).where(model.id.in_(wanted)))
    return dict(rows.tuples().all())


def person_ids_by_email(session: Session, emails: Iterable[str]) -> dict[str, int]:
    wanted = sorted({e.lower() for e in emails})
    if not wanted:
        return {}
    return {
        email: person_id
        for person_id, email in session.execute(
            select(t.Person.id, t.Person.email).where(t.Person.email.in_(wanted))
        )
    }


# -- scope resolution ----------------------------------------------------------------------
def _sqlite_has_label(label: str) -> ColumnElement[bool]:
    item = t.WorkItem
    values = func.json_each(item.labels).table_valued("value")
    exact = select(literal(1)).select_from(values).where(values.c.value == label).exists()
    if label.isascii() and label.isprintable() and '"' not in label and "\\" not in label:
        # Every JSON writer spells such a label "label": a cheap text test first spares
        # unpacking the array of most rows that do not carry it.
        return and_(func.instr(item.labels, f'"{label}"') > 0, exact)
    return exact


def _item_selector(s: ScopeSelector, dialect: str) -> ColumnElement[bool]:
    item = t.WorkItem
    parts: list[ColumnElement[bool]] = []
    if s.connection_id is not None:
        parts.append(item.connection_id == s.connection_id)
    if s.project_id is not None:
        parts.append(item.project_id == s.project_id)
    if s.milestone_id is not None:
        parts.append(item.milestone_id == s.milestone_id)
    if s.assignee_id is not None:
        parts.append(item.assignee_id == s.assignee_id)
    if s.item_types:
        parts.append(item.item_type.in_(list(s.item_types)))
    if s.labels:
        if dialect == "postgresql":
            parts.append(type_coerce(item.labels, JSONB).contains(list(s.labels)))
        else:
            parts.extend(_sqlite_has_label(label) for label in s.labels)
    return and_(*parts) if parts else true()


def item_scope(selectors: Sequence[ScopeSelector], dialect: str) -> ColumnElement[bool]:
    """The WHERE clause picking a scope's work items (lifecycle aside)."""
    if not selectors:
        return false()
    return or_(*(_item_selector(s, dialect) for s in selectors))


def milestone_scope(selectors: Sequence[ScopeSelector]) -> ColumnElement[bool]:
    milestone = t.Milestone
    clauses: list[ColumnElement[bool]] = []
    for s in selectors:
        if s.names_item_fields:
            continue
        parts: list[ColumnElement[bool]] = []
        if s.connection_id is not None:
            parts.append(milestone.connection_id == s.connection_id)
        if s.project_id is not None:
            parts.append(milestone.project_id == s.project_id)
        if s.milestone_id is not None:
            parts.append(milestone.id == s.milestone_id)
        clauses.append(and_(*parts) if parts else true())
    return or_(*clauses) if clauses else false()


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True, slots=True)
class ItemGroup:
    """Scope items of one connection, project and milestone, counted by what they count for.

    ``items`` are live and not cancelled; exclusions are counted apart, each item once:
    deleted first, then access lost, then cancelled.
    """

    connection_id: int
    tool: str
    project_id: int | None
    milestone_id: int | None
    items: int
    done: int
    points: float
    points_done: float
    estimated: int
    deleted: int
    access_lost: int
    cancelled: int
    project_name: str | None = None
    #: The milestone's due date: where the plan expects this group's work done.
    milestone_due: date | None = None


def scope_item_groups(
    session: Session,
    selectors: Sequence[ScopeSelector],
    *,
    tools: Mapping[int, str] | None = None,
) -> list[ItemGroup]:
    """One pass over the scope's items, grouped by connection, project and milestone.

    SQL groups by the raw facts (status category, deleted, access lost) and Python folds them
    into counts: a short statement is cheaper to build and to run than one CASE per figure.
    It reads only columns an index could cover (the tool comes from ``tools``, connection id
    -> tool, or from the connection table).
    """
    if not selectors:
        return []
    query = _groups_statement(tuple(selectors), _dialect(session))
    folded: dict[tuple[Any, ...], dict[str, Any]] = {}
    # Core, not ORM, execution: the statement names columns, not entities.
    for (
        connection_id,
        project_id,
        milestone_id,
        status_category,
        is_deleted,
        is_lost,
        count,
        estimated,
        points,
        project_name,
        due,
    ) in session.connection().execute(query):
        key = (int(connection_id), project_id, milestone_id)
        g = folded.get(key)
        if g is None:
            g = folded[key] = dict.fromkeys(_FIGURES, 0)
            g["project_name"], g["milestone_due"] = project_name, due
        n = int(count)
        if is_deleted:
            g["deleted"] += n
        elif is_lost:
            g["access_lost"] += n
        elif status_category == CANCELLED:
            g["cancelled"] += n
        else:
            g["items"] += n
            g["estimated"] += int(estimated)
            g["points"] += float(points)
            if status_category == DONE:
                g["done"] += n
                g["points_done"] += float(points)
    if tools is None or any(key[0] not in tools for key in folded):
        tools = connection_tools(session, {key[0] for key in folded})
    return [
        ItemGroup(
            connection_id=key[0],
            tool=tools[key[0]],
            project_id=key[1],
            milestone_id=key[2],
            items=g["items"],
            done=g["done"],
            points=float(g["points"]),
            points_done=float(g["points_done"]),
            estimated=g["estimated"],
            deleted=g["deleted"],
            access_lost=g["access_lost"],
            cancelled=g["cancelled"],
            project_name=g["project_name"],
            milestone_due=g["milestone_due"],
        )
        for key, g in folded.items()
    ]


@lru_cache(maxsize=1024)
def _groups_statement(selectors: tuple[ScopeSelector, ...], dialect: str) -> Select[Any]:
    """Built once per scope: building it and computing its cache key cost more than running it
    on a small scope, and the same goals are rolled up again and again."""
    item = t.WorkItem
    deleted = item.deleted_at.is_not(None)
    lost = item.access_lost_at.is_not(None)
    keys = (item.connection_id, item.project_id, item.milestone_id)
    grouped = (
        select(
            *keys,
            item.status_category,
            deleted.label("deleted"),
            lost.label("lost"),
            func.count().label("n"),
            func.count(item.estimate).label("estimated"),
            func.coalesce(func.sum(item.estimate), 0.0).label("points"),
        )
        .where(item_scope(selectors, dialect))
        .group_by(*keys, item.status_category, deleted, lost)
        .subquery("grouped")
    )
    # Names and dates join the few grouped rows, not the items: one round trip for all.
    project, milestone = t.Project, t.Milestone
    return (
        select(grouped, project.name.label("project_name"), milestone.due_date.label("due"))
        .outerjoin(project, project.id == grouped.c.project_id)
        .outerjoin(milestone, milestone.id == grouped.c.milestone_id)
    )


_FIGURES = (
    "items",
    "done",
    "points",
    "points_done",
    "estimated",
    "deleted",
    "access_lost",
    "cancelled",
)


def connection_tools(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(t.Connection.id, t.Connection.tool).where(t.Connection.id.in_(wanted))
    )
    return dict(rows.tuples().all())


def scope_item_ids(session: Session, selectors: Sequence[ScopeSelector]) -> list[int]:
    """Ids of the scope's live items (for checks and tests; rollups aggregate in SQL)."""
    item = t.WorkItem
    query = (
        select(item.id)
        .where(
            item_scope(selectors, _dialect(session)),
            item.deleted_at.is_(None),
            item.access_lost_at.is_(None),
        )
        .order_by(item.id)
    )
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class MilestoneRow:
    id: int
    connection_id: int
    tool: str
    project_id: int | None
    name: str
    due_date: date | None
    reached: bool
    reached_at: datetime | None
    first_seen_at: datetime
    deleted: bool
    access_lost: bool


def scope_milestones(session: Session, selectors: Sequence[ScopeSelector]) -> list[MilestoneRow]:
    milestone, connection = t.Milestone, t.Connection
    query = (
        select(
            milestone.id,
            milestone.connection_id,
            connection.tool,
            milestone.project_id,
            milestone.name,
            milestone.due_date,
            milestone.reached,
            milestone.reached_at,
            milestone.first_seen_at,
            milestone.deleted_at,
            milestone.access_lost_at,
        )
        .join(connection, connection.id == milestone.connection_id)
        .where(milestone_scope(selectors))
        .order_by(milestone.id)
    )
    return [
        MilestoneRow(
            id=row.id,
            connection_id=row.connection_id,
            tool=row.tool,
            project_id=row.project_id,
            name=row.name,
            due_date=row.due_date,
            reached=bool(row.reached),
            reached_at=row.reached_at,
            first_seen_at=row.first_seen_at,
            deleted=row.deleted_at is not None,
            access_lost=row.deleted_at is None and row.access_lost_at is not None,
        )
        for row in session.execute(query)
    ]


def project_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return dict(
        session.execute(select(t.Project.id, t.Project.name).where(t.Project.id.in_(wanted)))
        .tuples()
        .all()
    )


def milestone_dates(session: Session, ids: Iterable[int]) -> dict[int, date | None]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return dict(
        session.execute(
            select(t.Milestone.id, t.Milestone.due_date).where(t.Milestone.id.in_(wanted))
        )
        .tuples()
        .all()
    )


@dataclass(frozen=True, slots=True)
class CompletionEvent:
    """An item of the scope entering (+1) or leaving (-1) done, with its estimate now."""

    at: datetime
    delta: int
    estimate: float | None


def completion_events(
    session: Session, selectors: Sequence[ScopeSelector], *, since: datetime, until: datetime
) -> list[CompletionEvent]:
    """Moves into and out of done of the scope's live items, from ``item_change``."""
    item, change = t.WorkItem, t.ItemChange
    query = (
        select(change.changed_at, change.old_value, change.new_value, item.estimate)
        .join(item, item.id == change.work_item_id)
        .where(
            item_scope(selectors, _dialect(session)),
            item.deleted_at.is_(None),
            item.access_lost_at.is_(None),
            change.field == "status_category",
            or_(change.new_value == DONE, change.old_value == DONE),
            change.changed_at >= since,
            change.changed_at < until,
        )
        .order_by(change.changed_at)
    )
    events = []
    for changed_at, old, new, estimate in session.execute(query):
        if old == new:
            continue
        events.append(CompletionEvent(changed_at, 1 if new == DONE else -1, estimate))
    return events


def history_start(session: Session, selectors: Sequence[ScopeSelector]) -> datetime | None:
    """When the scope's recorded history begins: its earliest status change."""
    item, change = t.WorkItem, t.ItemChange
    found: datetime | None = session.scalar(
        select(func.min(change.changed_at))
        .join(item, item.id == change.work_item_id)
        .where(
            item_scope(selectors, _dialect(session)),
            item.deleted_at.is_(None),
            item.access_lost_at.is_(None),
            change.field == "status_category",
        )
    )
    if found is not None and found.tzinfo is None:
        # min() loses the column type on SQLite; the store holds UTC.
        found = found.replace(tzinfo=UTC)
    return found


# -- measurements --------------------------------------------------------------------------
def add_measurement(
    session: Session,
    goal_id: int,
    *,
    value: float,
    measured_at: datetime,
    source: str | None,
    note: str | None,
    now: datetime,
) -> GoalMeasurement:
    row = GoalMeasurement(
        goal_id=goal_id,
        value=value,
        measured_at=measured_at,
        source=source,
        note=note,
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    return row


def measurements_of(
    session: Session,
    goal_id: int,
    *,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[GoalMeasurement]:
    """Oldest first; with ``limit``, the latest ``limit`` of them."""
    query = select(GoalMeasurement).where(GoalMeasurement.goal_id == goal_id)
    if until is not None:
        query = query.where(GoalMeasurement.measured_at <= until)
    if limit is not None:
        query = query.order_by(GoalMeasurement.measured_at.desc(), GoalMeasurement.id.desc()).limit(
            limit
        )
        return list(reversed(list(session.scalars(query))))
    return list(session.scalars(query.order_by(GoalMeasurement.measured_at, GoalMeasurement.id)))


def latest_measurements(
    session: Session, goal_ids: Iterable[int], *, until: datetime
) -> dict[int, GoalMeasurement]:
    """Each goal's latest measurement at or before ``until`` (ties: the last recorded)."""
    wanted = sorted(set(goal_ids))
    if not wanted:
        return {}
    m = GoalMeasurement
    ranked = (
        select(
            m.id,
            func.row_number()
            .over(partition_by=m.goal_id, order_by=(m.measured_at.desc(), m.id.desc()))
            .label("rank"),
        )
        .where(m.goal_id.in_(wanted), m.measured_at <= until)
        .subquery()
    )
    rows = session.scalars(select(m).join(ranked, ranked.c.id == m.id).where(ranked.c["rank"] == 1))
    return {row.goal_id: row for row in rows}


# -- snapshots -----------------------------------------------------------------------------
SNAPSHOT_FIELDS = (
    "taken_at",
    "value",
    "target",
    "progress",
    "expected_progress",
    "status",
    "scope_items",
    "done_items",
    "scope_points",
    "done_points",
    "rollup",
)


def upsert_snapshots(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One row per goal and day: taking a day's snapshot again rewrites that row."""
    if not rows:
        return
    table: Any = GoalSnapshot.__table__
    insert_: Any = (
        postgresql.insert(table) if _dialect(session) == "postgresql" else sqlite.insert(table)
    )
    statement = insert_.on_conflict_do_update(
        index_elements=["goal_id", "day"],
        set_={name: insert_.excluded[name] for name in SNAPSHOT_FIELDS},
    )
    session.execute(statement, list(rows))


def snapshot_on_or_before(session: Session, goal_id: int, day: date) -> GoalSnapshot | None:
    return session.scalar(
        select(GoalSnapshot)
        .where(GoalSnapshot.goal_id == goal_id, GoalSnapshot.day <= day)
        .order_by(GoalSnapshot.day.desc())
        .limit(1)
    )


def snapshots_between(session: Session, goal_id: int, start: date, end: date) -> list[GoalSnapshot]:
    return list(
        session.scalars(
            select(GoalSnapshot)
            .where(GoalSnapshot.goal_id == goal_id, GoalSnapshot.day.between(start, end))
            .order_by(GoalSnapshot.day)
        )
    )
