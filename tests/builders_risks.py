"""Builders for risk tests: facts for the pure signal functions, a fake of the goals
interface, and records written through the store with whatever raw payload a test needs."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from insights.risks.goal_facts import (
    GoalForecast,
    GoalInfo,
    GoalRollup,
    GoalScope,
    ScopeLine,
    ScopePoint,
)
from insights.risks.signals import ConnectionFact, ItemFact, MilestoneFact
from sync.model import Milestone, Person, Project, StatusCategory, Tool, WorkItem
from sync.store import tables as t
from sync.store.connections import create_connection
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.records import Scope, upsert_milestones, upsert_projects, upsert_work_items

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # the FakeClock's reading
TODAY = NOW.date()
ANA = Person(vendor_id="u-ana", display_name="Ana", email="ana@example.com")


# -- facts for the pure functions ----------------------------------------------------------
def item_fact(**fields: Any) -> ItemFact:
    values: dict[str, Any] = {
        "id": 1,
        "title": "Migrate the EMEA pipeline",
        "status_category": StatusCategory.IN_PROGRESS.value,
        "connection_id": 1,
        "tool": "jira",
        "updated_at": NOW,
        "key": "CRM-1",
        "url": "https://example.atlassian.net/browse/CRM-1",
        "assignee_id": 7,
    }
    return ItemFact(**(values | fields))


def milestone_fact(**fields: Any) -> MilestoneFact:
    values: dict[str, Any] = {
        "id": 3,
        "name": "Q4 launch",
        "connection_id": 1,
        "tool": "jira",
        "due_date": TODAY,
        "open_items": 0,
    }
    return MilestoneFact(**(values | fields))


def connection_fact(**fields: Any) -> ConnectionFact:
    values: dict[str, Any] = {
        "id": 1,
        "name": "sales",
        "tool": "jira",
        "state": "active",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "last_success_at": NOW,
    }
    return ConnectionFact(**(values | fields))


def goal_info(**fields: Any) -> GoalInfo:
    values: dict[str, Any] = {
        "id": 9,
        "title": "Every sales team on the new CRM",
        "status": "active",
        "metric": "items_done",
        "due_date": date(2026, 12, 31),
        "baseline_date": date(2026, 11, 1),
    }
    return GoalInfo(**(values | fields))


def scope_line(*sizes: tuple[str, float], unit: str = "items") -> ScopeLine:
    return ScopeLine(unit, tuple(ScopePoint(date.fromisoformat(d), s) for d, s in sizes))


@dataclasses.dataclass
class FakeGoalFacts:
    """The goals interface as plain dictionaries."""

    infos: dict[int, GoalInfo] = dataclasses.field(default_factory=dict)
    scopes: dict[int, GoalScope] = dataclasses.field(default_factory=dict)
    lines: dict[int, ScopeLine] = dataclasses.field(default_factory=dict)
    forecasts: dict[int, GoalForecast] = dataclasses.field(default_factory=dict)
    rollups: dict[int, GoalRollup] = dataclasses.field(default_factory=dict)

    def add(
        self,
        goal: GoalInfo,
        *,
        scope: GoalScope | None = None,
        line: ScopeLine | None = None,
        forecast: GoalForecast | None = None,
    ) -> GoalInfo:
        self.infos[goal.id] = goal
        self.scopes[goal.id] = scope or GoalScope()
        self.lines[goal.id] = line or ScopeLine(None)
        self.forecasts[goal.id] = forecast or GoalForecast(
            "insufficient_history", "too little history", goal.due_date, None, None
        )
        self.rollups[goal.id] = GoalRollup("on_track", "on plan", 0.5, 0.5, 0.0)
        return goal

    def goals(self, goal_ids: Collection[int] | None = None) -> list[GoalInfo]:
        if goal_ids is None:
            return [g for g in self.infos.values() if g.status == "active"]
        return [self.infos[g] for g in sorted(goal_ids) if g in self.infos]

    def scope(self, goal_id: int) -> GoalScope:
        return self.scopes[goal_id]

    def scope_line(self, goal_id: int) -> ScopeLine:
        return self.lines[goal_id]

    def forecast(self, goal_id: int) -> GoalForecast:
        return self.forecasts[goal_id]

    def rollup(self, goal_id: int) -> GoalRollup:
        return self.rollups[goal_id]


# -- records in the store ------------------------------------------------------------------
def add_connection(
    sessions: sessionmaker[Session],
    box: SecretBox,
    *,
    name: str = "sales",
    tool: Tool = Tool.JIRA,
    synced_at: datetime | None = NOW,
    created_at: datetime = datetime(2026, 1, 1, tzinfo=UTC),
) -> int:
    with unit_of_work(sessions) as session:
        connection = create_connection(
            session,
            box,
            name=name,
            tool=tool,
            base_url="http://127.0.0.1:9",
            credentials={"token": "test"},
            now=created_at,
        )
        connection.last_success_at = synced_at
        return connection.id


def work_item(
    vendor_id: str,
    status: StatusCategory = StatusCategory.TODO,
    *,
    project: str | None = "P1",
    due: date | None = None,
    assignee: Person | None = ANA,
    updated_at: datetime = NOW,
    milestone: str | None = None,
    labels: Sequence[str] = (),
    blocked: bool = False,
    status_name: str | None = None,
    completed_at: datetime | None = None,
) -> WorkItem:
    return WorkItem(
        vendor_id=vendor_id,
        key=f"CRM-{vendor_id}",
        project_vendor_id=project,
        title=f"Item {vendor_id}",
        status_name=status_name or status.value,
        status_category=status,
        updated_at=updated_at,
        url=f"https://example.atlassian.net/browse/CRM-{vendor_id}",
        assignee=assignee,
        due_date=due,
        labels=tuple(labels),
        blocked=blocked,
        milestone_vendor_id=milestone,
        completed_at=completed_at,
    )


def store(
    sessions: sessionmaker[Session],
    connection_id: int,
    *,
    tool: Tool = Tool.JIRA,
    now: datetime = NOW,
    projects: Sequence[Project] = (Project("P1", "CRM", "CRM Rollout"),),
    milestones: Sequence[Milestone] = (),
    items: Sequence[WorkItem] = (),
    raws: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Write records as a sync would. The raw payload is the record itself (so writing a
    changed record again is a change), unless ``raws`` gives one by vendor id."""
    raws = raws or {}
    scope = Scope(connection_id, tool.value, now)
    with unit_of_work(sessions) as session:
        upsert_projects(session, scope, [(p, _raw(p)) for p in projects])
        upsert_milestones(session, scope, [(m, _raw(m)) for m in milestones])
        upsert_work_items(session, scope, [(i, raws.get(i.vendor_id) or _raw(i)) for i in items])


def _raw(record: Any) -> dict[str, Any]:
    raw: dict[str, Any] = dataclasses.asdict(record)
    return raw


def jira_raw(vendor_id: str, *blockers: tuple[str, str, str]) -> dict[str, Any]:
    """A Jira issue's raw payload with "is blocked by" links: (id, key, category key)."""
    return {
        "id": vendor_id,
        "fields": {
            "issuelinks": [
                {
                    "type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
                    "inwardIssue": {
                        "id": blocker_id,
                        "key": key,
                        "fields": {"status": {"statusCategory": {"key": category}}},
                    },
                }
                for blocker_id, key, category in blockers
            ]
        },
    }


def row_id(
    sessions: sessionmaker[Session],
    model: type[t.WorkItem] | type[t.Milestone] | type[t.Project],
    vendor_id: str,
) -> int:
    with sessions() as session:
        return session.execute(select(model.id).where(model.vendor_id == vendor_id)).scalar_one()
