"""Admin views of webhooks: register receivers with the tools, see their state, and look
into (and retry) the inbox. Needs an ``admin`` key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from api.auth import require
from api.deps import get_services, get_session
from api.filters import IdPath, enum_values, id_values
from api.listing import decode_cursor, encode_cursor
from api.services import Services
from api.webhooks.router import receiver_for, receiver_url
from api.webhooks.schemas import (
    DeliveryCounts,
    DeliveryOut,
    InboxPage,
    InstructionsOut,
    RefreshResultOut,
    RegisterIn,
    RegistrationOut,
    RegistrationResultOut,
    WebhookStatusOut,
)
from sync.engine.webhooks import refresh_webhook_registrations, register_webhooks
from sync.store import connections as connection_store
from sync.store import inbox
from sync.store.inbox import DeliveryState
from sync.store.inbox_tables import WebhookDelivery, WebhookRegistration
from sync.store.keys import Scope

router = APIRouter(
    prefix="/admin", tags=["admin", "webhooks"], dependencies=[Depends(require(Scope.ADMIN))]
)


@router.post(
    "/connections/{connection_id}/webhooks",
    response_model=RegistrationResultOut,
    status_code=201,
    summary="Register the receiver with the tool, or get the steps to paste it by hand",
)
async def register(
    connection_id: IdPath,
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    body: RegisterIn | None = None,
) -> RegistrationResultOut:
    """Trello and Asana are registered through their APIs (one webhook per board/project),
    and so is Jira on OAuth credentials (one dynamic webhook over the connection's projects,
    valid 30 days and refreshed by the worker; needs the app's `client_secret` credential).
    Jira admin webhooks (Basic credentials), Worktile and PingCode are configured in the
    tool: the answer has the URL, a new secret (shown once) and the steps."""
    given = body.callback_url if body else None
    callback = str(given) if given is not None else receiver_url(request, connection_id)
    result = await register_webhooks(
        services.sync, connection_id, callback_url=callback, receiver=receiver_for(request)
    )
    with services.sessions() as session:
        rows = [session.get_one(WebhookRegistration, i) for i in result.registration_ids]
        registrations = [RegistrationOut.model_validate(r) for r in rows]
    instructions = result.instructions
    return RegistrationResultOut(
        registrations=registrations,
        instructions=InstructionsOut(
            url=instructions.url,
            secret=instructions.secret,
            header=instructions.header,
            steps=instructions.steps,
        )
        if instructions
        else None,
    )


@router.post(
    "/connections/{connection_id}/webhooks/refresh",
    response_model=RefreshResultOut,
    summary="Extend every live registration that expires (Jira dynamic webhooks) now",
)
async def refresh(
    connection_id: IdPath,
    request: Request,
    services: Annotated[Services, Depends(get_services)],
) -> RefreshResultOut:
    """The worker refreshes registrations in their last days on its own; this does it now
    for all of them, whatever time they have left. Registrations the tool no longer knows
    become `expired` with the reason; other tools' webhooks do not expire."""
    outcome = await refresh_webhook_registrations(
        services.sync, connection_id, now=services.clock(), margin=None
    )
    receiver_for(request).forget(connection_id)
    with services.sessions() as session:
        rows = inbox.list_registrations(session, connection_id)
        registrations = [RegistrationOut.model_validate(r) for r in rows]
    return RefreshResultOut(
        refreshed=outcome.refreshed, expired=outcome.expired, registrations=registrations
    )


@router.get(
    "/connections/{connection_id}/webhooks",
    response_model=WebhookStatusOut,
    summary="Registrations with their state, and what the inbox holds for the connection",
)
def webhook_status(
    connection_id: IdPath,
    request: Request,
    session: Annotated[Session, Depends(get_session)],
) -> WebhookStatusOut:
    connection = connection_store.get_connection(session, connection_id)
    return WebhookStatusOut(
        connection_id=connection.id,
        tool=connection.tool,
        receiver_url=receiver_url(request, connection.id),
        registrations=[
            RegistrationOut.model_validate(r)
            for r in inbox.list_registrations(session, connection.id)
        ],
        deliveries=DeliveryCounts(**inbox.counts_by_state(session, connection.id)),
        last_delivery_at=inbox.last_received(session, connection.id),
        rejected=receiver_for(request).rejected[connection.id],
    )


def _delivery_out(row: WebhookDelivery) -> DeliveryOut:
    body = bytes(row.body)
    return DeliveryOut(
        id=row.id,
        connection_id=row.connection_id,
        dedup_key=row.dedup_key,
        state=row.state,
        attempts=row.attempts,
        available_at=row.available_at,
        received_at=row.received_at,
        applied_at=row.applied_at,
        last_error=row.last_error,
        notices=row.notices,
        size=len(body),
        headers=dict(row.headers or {}),
        body_excerpt=body[:500].decode("utf-8", errors="replace"),
    )


@router.get("/inbox", response_model=InboxPage, summary="Webhook deliveries, oldest first")
def list_inbox(
    session: Annotated[Session, Depends(get_session)],
    services: Annotated[Services, Depends(get_services)],
    state: Annotated[list[str] | None, Query(description="pending, processing, done, dead")] = None,
    connection: Annotated[list[str] | None, Query(description="connection id(s)")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> InboxPage:
    size = min(limit or services.settings.api_page_default, services.settings.api_page_max)
    rows = inbox.list_deliveries(
        session,
        states=enum_values(state, DeliveryState, "state"),
        connection_ids=id_values(connection, "connection"),
        after_id=decode_cursor(cursor),
        limit=size + 1,
    )
    next_cursor = encode_cursor(rows[size - 1].id) if len(rows) > size else None
    return InboxPage(data=[_delivery_out(r) for r in rows[:size]], next_cursor=next_cursor)


@router.post(
    "/inbox/{delivery_id}/retry",
    response_model=DeliveryOut,
    summary="Try a dead letter again now, with a fresh count of attempts",
)
def retry_delivery(
    delivery_id: IdPath,
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    services: Annotated[Services, Depends(get_services)],
) -> DeliveryOut:
    row = inbox.retry(session, delivery_id, now=services.clock())
    session.commit()
    wake = getattr(request.app.state, "on_delivery", None)
    if callable(wake):
        wake(row.connection_id)
    return _delivery_out(row)
