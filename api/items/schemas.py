"""Response shapes of /v1/projects, /v1/items and /v1/milestones: stable snake_case fields."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tool: str
    connection_id: int
    connection_name: str
    vendor_id: str
    key: str | None
    name: str
    url: str | None
    archived: bool
    deleted_at: datetime | None
    access_lost_at: datetime | None
    recorded_at: datetime


class ItemOut(BaseModel):
    id: int
    tool: str
    connection_id: int
    connection_name: str
    vendor_id: str
    key: str | None
    url: str | None
    project_id: int | None
    project_key: str | None
    project_name: str | None
    title: str
    item_type: str | None
    status_name: str | None
    status_category: str
    assignee_id: int | None
    assignee_name: str | None
    assignee_email: str | None
    start_date: date | None
    due_date: date | None
    created_at: datetime | None
    updated_at: datetime
    completed_at: datetime | None
    estimate: float | None
    labels: list[str]
    priority: str | None
    parent_vendor_id: str | None
    milestone_id: int | None
    milestone_name: str | None
    blocked: bool
    deleted_at: datetime | None
    access_lost_at: datetime | None
    recorded_at: datetime


class MilestoneOut(BaseModel):
    id: int
    tool: str
    connection_id: int
    connection_name: str
    vendor_id: str
    project_id: int | None
    project_key: str | None
    project_name: str | None
    name: str
    description: str | None
    start_date: date | None
    due_date: date | None
    reached: bool
    reached_at: datetime | None
    archived: bool
    url: str | None
    items: int
    items_done: int
    deleted_at: datetime | None
    access_lost_at: datetime | None
    recorded_at: datetime


class ProjectPage(BaseModel):
    data: list[ProjectOut]
    next_cursor: str | None


class ItemPage(BaseModel):
    data: list[ItemOut]
    next_cursor: str | None


class MilestonePage(BaseModel):
    data: list[MilestoneOut]
    next_cursor: str | None
