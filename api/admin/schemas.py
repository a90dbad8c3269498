"""Shapes of the admin API. Credentials go in, and never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sync.model import Tool


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    tool: Tool
    base_url: str | None = Field(
        default=None, description="https URL; the vendor's cloud URL when omitted"
    )
    credentials: dict[str, SecretStr] = Field(
        description="write-only: e.g. Jira {email, api_token}"
    )
    scope: list[str] = Field(default_factory=list, description="project keys/ids; empty = all")
    options: dict[str, Any] = Field(
        default_factory=dict, description="vocabulary overrides and connector options"
    )


class ConnectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    tool: str
    base_url: str
    scope: list[str]
    options: dict[str, Any]
    state: str
    state_reason: str | None
    throttled_until: datetime | None
    last_success_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SyncRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    connection_id: int
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    pages: int
    requests: int
    fetched: int
    upserted: int
    unchanged: int
    deleted: int
    access_lost: int
    vendor_count: int | None
    stored_count: int | None
    errors: list[dict[str, Any]]
