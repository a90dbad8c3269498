"""The unified words every layer past a connector speaks.

Vendor shapes (a Jira issue, a Trello card) never leave a connector and its mapping: they
become these records, which the store persists and the API serves. The vendor's raw JSON
travels beside a record (see ``sync.connectors.base.Page.raw``), not inside it, so mapping
never pays to copy it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

JsonObject = dict[str, Any]


class Tool(enum.StrEnum):
    JIRA = "jira"
    TRELLO = "trello"
    ASANA = "asana"
    WORKTILE = "worktile"
    PINGCODE = "pingcode"


class StatusCategory(enum.StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class Resource(enum.StrEnum):
    PROJECTS = "projects"
    WORK_ITEMS = "work_items"
    MILESTONES = "milestones"
    PEOPLE = "people"


class ConnectionState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    THROTTLED = "throttled"
    NEEDS_REAUTH = "needs_reauth"
    FAILING = "failing"


class SyncKind(enum.StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"
    CENSUS = "census"


class SyncStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Person:
    """Somebody a tool names as assignee or owner; merged across tools by e-mail."""

    vendor_id: str
    display_name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Project:
    vendor_id: str
    key: str | None
    name: str
    url: str | None = None
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Milestone:
    vendor_id: str
    project_vendor_id: str | None
    name: str
    description: str | None = None
    start_date: date | None = None
    due_date: date | None = None
    reached: bool = False
    reached_at: datetime | None = None
    archived: bool = False
    url: str | None = None


@dataclass(frozen=True, slots=True)
class WorkItem:
    vendor_id: str
    key: str | None
    project_vendor_id: str | None
    title: str
    status_name: str | None
    status_category: StatusCategory
    updated_at: datetime
    item_type: str | None = None
    url: str | None = None
    assignee: Person | None = None
    start_date: date | None = None
    due_date: date | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    estimate: float | None = None
    labels: tuple[str, ...] = ()
    priority: str | None = None
    parent_vendor_id: str | None = None
    milestone_vendor_id: str | None = None
    blocked: bool = False
