"""Builders for goal tests: connections of any tool, items written through the store with
real history, goals created through the domain layer, and ids looked up by vendor id."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from insights.goals.definitions import SelectorDraft, create_goal
from insights.goals.model import GoalDef
from sync.model import Milestone, Person, Project, StatusCategory, Tool, WorkItem
from sync.store import tables as t
from sync.store.connections import create_connection
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.records import Scope, upsert_milestones, upsert_projects, upsert_work_items

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def make_connection(
    sessions: sessionmaker[Session],
    box: SecretBox,
    *,
    name: str,
    tool: Tool,
    now: datetime,
    synced_at: datetime | None = None,
) -> int:
    """A connection of any tool, without a vendor behind it: records arrive via the store."""
    with unit_of_work(sessions) as session:
        connection = create_connection(
            session,
            box,
            name=name,
            tool=tool,
            base_url="http://127.0.0.1:9",
            credentials={"token": "test"},
            now=now,
        )
        connection.last_success_at = synced_at
        return connection.id


def item(
    vendor_id: str,
    status: StatusCategory = StatusCategory.TODO,
    *,
    project: str | None = "P1",
    labels: Sequence[str] = (),
    item_type: str | None = "Task",
    estimate: float | None = None,
    milestone: str | None = None,
    assignee: Person | None = None,
    updated_at: datetime = T0,
) -> WorkItem:
    return WorkItem(
        vendor_id=vendor_id,
        key=vendor_id,
        project_vendor_id=project,
        title=f"Item {vendor_id}",
        status_name=status.value,
        status_category=status,
        updated_at=updated_at,
        item_type=item_type,
        estimate=estimate,
        labels=tuple(labels),
        milestone_vendor_id=milestone,
        assignee=assignee,
        completed_at=updated_at if status is StatusCategory.DONE else None,
    )


def write(
    sessions: sessionmaker[Session],
    connection_id: int,
    tool: Tool,
    *,
    now: datetime,
    projects: Sequence[Project] = (),
    milestones: Sequence[Milestone] = (),
    items: Sequence[WorkItem] = (),
) -> None:
    """Write records as a sync would; the raw payload is the record itself, so writing a
    changed record again is a change (and lands in ``item_change``)."""
    scope = Scope(connection_id, tool.value, now)
    with unit_of_work(sessions) as session:
        upsert_projects(session, scope, [(p, _raw(p)) for p in projects])
        upsert_milestones(session, scope, [(m, _raw(m)) for m in milestones])
        upsert_work_items(session, scope, [(i, _raw(i)) for i in items])


def _raw(record: Any) -> dict[str, Any]:
    raw: dict[str, Any] = dataclasses.asdict(record)
    return raw


def project_id(sessions: sessionmaker[Session], connection_id: int, vendor_id: str) -> int:
    return _id(sessions, t.Project, connection_id, vendor_id)


def milestone_id(sessions: sessionmaker[Session], connection_id: int, vendor_id: str) -> int:
    return _id(sessions, t.Milestone, connection_id, vendor_id)


def item_id(sessions: sessionmaker[Session], connection_id: int, vendor_id: str) -> int:
    return _id(sessions, t.WorkItem, connection_id, vendor_id)


def _id(
    sessions: sessionmaker[Session],
    model: type[t.Project] | type[t.Milestone] | type[t.WorkItem],
    connection_id: int,
    vendor_id: str,
) -> int:
    with sessions() as session:
        return session.execute(
            select(model.id).where(
                model.connection_id == connection_id, model.vendor_id == vendor_id
            )
        ).scalar_one()


def make_goal(
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    scope: Sequence[SelectorDraft] = (),
    title: str = "Roll out the CRM to every sales team",
    metric: str = "items_done",
    **fields: Any,
) -> GoalDef:
    values: dict[str, Any] = {"title": title, "metric": metric, **fields}
    with unit_of_work(sessions) as session:
        return create_goal(session, values, scope, now=now)


def day(text: str) -> date:
    return date.fromisoformat(text)
