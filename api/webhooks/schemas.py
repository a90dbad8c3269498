"""Shapes of the webhook receiver and of the admin views of webhooks and the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field


class DeliveryReceipt(BaseModel):
    """What a vendor gets back (vendors only read the status code)."""

    status: str = Field(description="accepted, or duplicate for a redelivery (not stored twice)")
    delivery_id: int | None


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    callback_url: AnyHttpUrl | None = Field(
        default=None,
        description="public receiver URL; defaults to PMBRIDGE_WORKER_PUBLIC_URL (else this "
        "server's URL) + /webhooks/{id}",
    )


class RegistrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    connection_id: int
    mode: str = Field(description="api (pmbridge registered it) or manual (pasted by a person)")
    vendor_webhook_id: str | None
    target: str | None = Field(
        description="what it watches: a board, a project, a JQL filter (Jira dynamic webhooks)"
    )
    callback_url: str
    state: str = Field(description="pending, active, failed or expired")
    state_reason: str | None
    expires_at: datetime | None = Field(
        description="when the tool stops delivering unless refreshed (Jira dynamic webhooks: "
        "30 days, refreshed by the worker)"
    )
    created_at: datetime
    updated_at: datetime


class RefreshResultOut(BaseModel):
    refreshed: list[int] = Field(description="registrations whose expiry moved")
    expired: list[int] = Field(description="registrations the tool no longer knows, or lapsed")
    registrations: list[RegistrationOut]


class InstructionsOut(BaseModel):
    url: str
    secret: str | None = Field(description="shown once: paste it into the tool now")
    header: str | None = Field(description="header that carries the secret, where one does")
    steps: list[str]


class RegistrationResultOut(BaseModel):
    registrations: list[RegistrationOut]
    instructions: InstructionsOut | None


class DeliveryCounts(BaseModel):
    pending: int
    processing: int
    done: int
    dead: int


class WebhookStatusOut(BaseModel):
    connection_id: int
    tool: str
    receiver_url: str
    registrations: list[RegistrationOut]
    deliveries: DeliveryCounts
    last_delivery_at: datetime | None
    rejected: int = Field(description="forged or unverifiable deliveries since this process began")


class DeliveryOut(BaseModel):
    id: int
    connection_id: int
    dedup_key: str
    state: str = Field(description="pending, processing, done or dead")
    attempts: int
    available_at: datetime
    received_at: datetime
    applied_at: datetime | None
    last_error: str | None
    notices: int | None
    size: int = Field(description="body size in bytes")
    headers: dict[str, Any]
    body_excerpt: str


class InboxPage(BaseModel):
    data: list[DeliveryOut]
    next_cursor: str | None
