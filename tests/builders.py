"""Keyword-only builders for the objects tests need, instead of webs of fixtures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from sandbox.jira import JiraSimulator
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment
from sync.model import Milestone, Person, Project, StatusCategory, Tool, WorkItem
from sync.settings import Settings
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.records import Scope, upsert_milestones, upsert_projects, upsert_work_items
from tests.fakes import FakeClock, FakeSleep

JIRA_CREDENTIALS = {"email": "demo@example.com", "api_token": "demo-token"}


def make_environment(
    *,
    sessions: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    app: Any,
    max_attempts: int = 3,
    max_retry_wait: float = 60.0,
) -> SyncEnvironment:
    """An engine environment whose vendor is an in-process ASGI simulator."""
    return SyncEnvironment(
        sessions=sessions,
        box=box,
        settings=Settings(http_max_attempts=max_attempts, http_max_retry_wait=max_retry_wait),
        clock=clock,
        sleep=sleep,
        monotonic=clock.monotonic,
        transport_for=lambda _connection: httpx.ASGITransport(app=app),
    )


def make_jira_connection(
    env: SyncEnvironment,
    *,
    name: str = "sales",
    scope: Sequence[str] = (),
    credentials: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    with unit_of_work(env.sessions) as session:
        connection = add_connection(
            session,
            env.box,
            name=name,
            tool=Tool.JIRA,
            base_url="http://127.0.0.1:8101",
            credentials=credentials or JIRA_CREDENTIALS,
            scope=scope,
            options=options,
            now=env.clock(),
        )
        return connection.id


def make_jira_simulator(*, issues: int = 120, projects: int = 3, **kwargs: Any) -> JiraSimulator:
    return JiraSimulator(issues=issues, projects=projects, **kwargs)


def make_work_item(
    *,
    vendor_id: str,
    status_category: StatusCategory = StatusCategory.TODO,
    project_vendor_id: str | None = "P1",
    title: str | None = None,
    estimate: float | None = None,
    due_date: date | None = None,
    assignee: Person | None = None,
    milestone_vendor_id: str | None = None,
    updated_at: datetime = datetime(2026, 11, 1, tzinfo=UTC),
) -> WorkItem:
    return WorkItem(
        vendor_id=vendor_id,
        key=vendor_id,
        project_vendor_id=project_vendor_id,
        title=title or f"Item {vendor_id}",
        status_name=status_category.value,
        status_category=status_category,
        updated_at=updated_at,
        estimate=estimate,
        due_date=due_date,
        assignee=assignee,
        milestone_vendor_id=milestone_vendor_id,
    )


def store_records(
    sessions: sessionmaker[Session],
    scope: Scope,
    *,
    projects: Sequence[Project] = (),
    milestones: Sequence[Milestone] = (),
    items: Sequence[WorkItem] = (),
) -> None:
    """Write unified records straight through the store, as a sync of them would."""
    with unit_of_work(sessions) as session:
        upsert_projects(session, scope, [(p, {"id": p.vendor_id}) for p in projects])
        upsert_milestones(session, scope, [(m, {"id": m.vendor_id}) for m in milestones])
        upsert_work_items(session, scope, [(i, {"id": i.vendor_id}) for i in items])
