"""Read side for the API: filtered, keyset-paginated listings and the progress aggregate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from sync.model import StatusCategory
from sync.store import tables as t


@dataclass(frozen=True, slots=True)
class ItemFilters:
    connection_ids: Sequence[int] = ()
    tools: Sequence[str] = ()
    project_ids: Sequence[int] = ()
    status_categories: Sequence[str] = ()
    assignee_ids: Sequence[int] = ()
    assignee_emails: Sequence[str] = ()
    milestone_ids: Sequence[int] = ()
    due_before: date | None = None
    due_after: date | None = None
    updated_since: datetime | None = None
    #: Deleted and access-lost rows are tombstones BI needs for incremental loads.
    include_deleted: bool = False


def _live(model: Any, include_deleted: bool) -> list[Any]:
    if include_deleted:
        return []
    return [model.deleted_at.is_(None), model.access_lost_at.is_(None)]


def item_rows(
    session: Session, filters: ItemFilters, *, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    item, project, person, milestone, connection = (
        t.WorkItem,
        t.Project,
        t.Person,
        t.Milestone,
        t.Connection,
    )
    query = (
        select(
            item.id,
            item.tool,
            item.connection_id,
            connection.name.label("connection_name"),
            item.vendor_id,
            item.key,
            item.url,
            item.project_id,
            project.key.label("project_key"),
            project.name.label("project_name"),
            item.title,
            item.item_type,
            item.status_name,
            item.status_category,
            item.assignee_id,
            person.display_name.label("assignee_name"),
            person.email.label("assignee_email"),
            item.start_date,
            item.due_date,
            item.created_at,
            item.vendor_updated_at.label("updated_at"),
            item.completed_at,
            item.estimate,
            item.labels,
            item.priority,
            item.parent_vendor_id,
            item.milestone_id,
            milestone.name.label("milestone_name"),
            item.blocked,
            item.deleted_at,
            item.access_lost_at,
            item.recorded_at,
        )
        .join(connection, connection.id == item.connection_id)
        .outerjoin(project, project.id == item.project_id)
        .outerjoin(person, person.id == item.assignee_id)
        .outerjoin(milestone, milestone.id == item.milestone_id)
    )
    query = _filter_items(query, filters)
    if after_id is not None:
        query = query.where(item.id > after_id)
    query = query.order_by(item.id).limit(limit)
    return [dict(row._mapping) for row in session.execute(query)]


def _filter_items(query: Select[Any], f: ItemFilters) -> Select[Any]:
    item = t.WorkItem
    conditions: list[Any] = _live(item, f.include_deleted)
    if f.connection_ids:
        conditions.append(item.connection_id.in_(f.connection_ids))
    if f.tools:
        conditions.append(item.tool.in_(f.tools))
    if f.project_ids:
        conditions.append(item.project_id.in_(f.project_ids))
    if f.status_categories:
        conditions.append(item.status_category.in_(f.status_categories))
    if f.assignee_ids or f.assignee_emails:
        by_email = select(t.Person.id).where(
            t.Person.email.in_([e.lower() for e in f.assignee_emails])
        )
        conditions.append(or_(item.assignee_id.in_(f.assignee_ids), item.assignee_id.in_(by_email)))
    if f.milestone_ids:
        conditions.append(item.milestone_id.in_(f.milestone_ids))
    if f.due_before is not None:
        conditions.append(item.due_date < f.due_before)
    if f.due_after is not None:
        conditions.append(item.due_date > f.due_after)
    if f.updated_since is not None:
        conditions.append(item.recorded_at >= f.updated_since)
    return query.where(*conditions)


@dataclass(frozen=True, slots=True)
class RecordFilters:
    connection_ids: Sequence[int] = ()
    tools: Sequence[str] = ()
    project_ids: Sequence[int] = ()
    due_before: date | None = None
    due_after: date | None = None
    updated_since: datetime | None = None
    include_deleted: bool = False


def project_rows(
    session: Session, filters: RecordFilters, *, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    project, connection = t.Project, t.Connection
    query = select(
        project.id,
        connection.tool,
        project.connection_id,
        connection.name.label("connection_name"),
        project.vendor_id,
        project.key,
        project.name,
        project.url,
        project.archived,
        project.deleted_at,
        project.access_lost_at,
        project.recorded_at,
    ).join(connection, connection.id == project.connection_id)
    conditions = _live(project, filters.include_deleted)
    if filters.connection_ids:
        conditions.append(project.connection_id.in_(filters.connection_ids))
    if filters.tools:
        conditions.append(connection.tool.in_(filters.tools))
    if filters.project_ids:
        conditions.append(project.id.in_(filters.project_ids))
    if filters.updated_since is not None:
        conditions.append(project.recorded_at >= filters.updated_since)
    if after_id is not None:
        conditions.append(project.id > after_id)
    query = query.where(*conditions).order_by(project.id).limit(limit)
    return [dict(row._mapping) for row in session.execute(query)]


def milestone_rows(
    session: Session, filters: RecordFilters, *, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    milestone, project, connection, item = t.Milestone, t.Project, t.Connection, t.WorkItem
    counts = (
        select(
            item.milestone_id.label("milestone_id"),
            func.count().label("items"),
            func.sum(case((item.status_category == StatusCategory.DONE.value, 1), else_=0)).label(
                "items_done"
            ),
        )
        .where(item.milestone_id.is_not(None), *_live(item, False))
        .group_by(item.milestone_id)
        .subquery()
    )
    query = (
        select(
            milestone.id,
            connection.tool,
            milestone.connection_id,
            connection.name.label("connection_name"),
            milestone.vendor_id,
            milestone.project_id,
            project.key.label("project_key"),
            project.name.label("project_name"),
            milestone.name,
            milestone.description,
            milestone.start_date,
            milestone.due_date,
            milestone.reached,
            milestone.reached_at,
            milestone.archived,
            milestone.url,
            func.coalesce(counts.c["items"], 0).label("items"),
            func.coalesce(counts.c.items_done, 0).label("items_done"),
            milestone.deleted_at,
            milestone.access_lost_at,
            milestone.recorded_at,
        )
        .join(connection, connection.id == milestone.connection_id)
        .outerjoin(project, project.id == milestone.project_id)
        .outerjoin(counts, counts.c.milestone_id == milestone.id)
    )
    conditions = _live(milestone, filters.include_deleted)
    if filters.connection_ids:
        conditions.append(milestone.connection_id.in_(filters.connection_ids))
    if filters.tools:
        conditions.append(connection.tool.in_(filters.tools))
    if filters.project_ids:
        conditions.append(milestone.project_id.in_(filters.project_ids))
    if filters.due_before is not None:
        conditions.append(milestone.due_date < filters.due_before)
    if filters.due_after is not None:
        conditions.append(milestone.due_date > filters.due_after)
    if filters.updated_since is not None:
        conditions.append(milestone.recorded_at >= filters.updated_since)
    if after_id is not None:
        conditions.append(milestone.id > after_id)
    query = query.where(*conditions).order_by(milestone.id).limit(limit)
    return [dict(row._mapping) for row in session.execute(query)]


# -- progress ------------------------------------------------------------------------------
class GroupBy(StrEnum):
    TOOL = "tool"
    PROJECT = "project"
    ASSIGNEE = "assignee"
    MILESTONE = "milestone"


@dataclass(slots=True)
class ProgressGroup:
    key: str | None
    label: str | None
    counts: dict[str, int]
    total: int
    points_total: float
    points_done: float
    overdue: int
    connection_ids: list[int] = field(default_factory=list)


def progress_groups(
    session: Session, group_by: GroupBy, filters: ItemFilters, *, today: date
) -> list[ProgressGroup]:
    item = t.WorkItem
    project, person, milestone = aliased(t.Project), aliased(t.Person), aliased(t.Milestone)
    key_col: Any
    label_col: Any
    if group_by is GroupBy.TOOL:
        key_col, label_col = item.tool, item.tool
    elif group_by is GroupBy.PROJECT:
        key_col, label_col = item.project_id, project.name
    elif group_by is GroupBy.ASSIGNEE:
        key_col, label_col = item.assignee_id, person.display_name
    else:
        key_col, label_col = item.milestone_id, milestone.name
    open_categories = (StatusCategory.TODO.value, StatusCategory.IN_PROGRESS.value)
    done = item.status_category == StatusCategory.DONE.value
    query = (
        select(
            key_col.label("key"),
            func.max(label_col).label("label"),
            item.connection_id,
            *(
                func.sum(case((item.status_category == c.value, 1), else_=0)).label(c.value)
                for c in StatusCategory
            ),
            func.coalesce(
                func.sum(
                    case(
                        (item.status_category != StatusCategory.CANCELLED.value, item.estimate),
                        else_=literal(0.0),
                    )
                ),
                0.0,
            ).label("points_total"),
            func.coalesce(func.sum(case((done, item.estimate), else_=literal(0.0))), 0.0).label(
                "points_done"
            ),
            func.sum(
                case(
                    ((item.due_date < today) & item.status_category.in_(open_categories), 1),
                    else_=0,
                )
            ).label("overdue"),
        )
        .outerjoin(project, project.id == item.project_id)
        .outerjoin(person, person.id == item.assignee_id)
        .outerjoin(milestone, milestone.id == item.milestone_id)
        .group_by(key_col, item.connection_id)
    )
    query = _filter_items(query, filters)
    groups: dict[Any, ProgressGroup] = {}
    for row in session.execute(query):
        group = groups.get(row.key)
        if group is None:
            group = groups[row.key] = ProgressGroup(
                key=None if row.key is None else str(row.key),
                label=row.label,
                counts={c.value: 0 for c in StatusCategory},
                total=0,
                points_total=0.0,
                points_done=0.0,
                overdue=0,
            )
        for category in StatusCategory:
            group.counts[category.value] += int(getattr(row, category.value) or 0)
        group.total = sum(group.counts.values())
        group.points_total += float(row.points_total or 0)
        group.points_done += float(row.points_done or 0)
        group.overdue += int(row.overdue or 0)
        group.connection_ids.append(int(row.connection_id))
    return sorted(groups.values(), key=lambda g: (g.label is None, g.label or "", g.key or ""))


def connection_freshness(session: Session) -> dict[int, dict[str, Any]]:
    return {row.id: dict(row._mapping) for row in session.connection().execute(_FRESHNESS)}


_FRESHNESS = select(
    t.Connection.id,
    t.Connection.name,
    t.Connection.tool,
    t.Connection.state,
    t.Connection.last_success_at,
)
