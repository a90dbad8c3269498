"""``POST /webhooks/{connection_id}``: one receiver URL per connection, no API key.

The vendor's signature authenticates a delivery: the raw body is verified before any JSON is
parsed, then stored in the durable inbox and acknowledged. The sync work happens later, in a
worker, so the vendor gets its 2xx within milliseconds. ``HEAD`` answers Trello's probe and an
``X-Hook-Secret`` handshake (Asana) is answered by echoing the header.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import services_of
from api.filters import IdPath
from api.webhooks.schemas import DeliveryReceipt
from sync.connectors.base import WebhookRequest
from sync.engine.webhooks import ReceiptStatus, WebhookReceiver
from sync.settings import WorkerSettings

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

REJECTED = {"description": "bad or missing signature: nothing stored"}


def receiver_for(request: Request) -> WebhookReceiver:
    """The process's receiver (it caches connection facts and counts rejections)."""
    state = request.app.state
    receiver: WebhookReceiver | None = getattr(state, "webhook_receiver", None)
    if receiver is None:
        services = services_of(request)
        receiver = WebhookReceiver(services.sessions, services.box, clock=services.clock)
        state.webhook_receiver = receiver
    return receiver


def worker_settings(request: Request) -> WorkerSettings:
    state = request.app.state
    settings: WorkerSettings | None = getattr(state, "worker_settings", None)
    if settings is None:
        settings = services_of(request).settings.worker
        state.worker_settings = settings
    return settings


def public_base(request: Request) -> str:
    configured = worker_settings(request).public_url
    return (configured or str(request.base_url)).rstrip("/")


def receiver_url(request: Request, connection_id: int) -> str:
    return f"{public_base(request)}/webhooks/{connection_id}"


def _delivered_to(request: Request) -> str:
    """The URL the vendor posted to, as the vendor saw it (behind a proxy: the public one)."""
    if worker_settings(request).public_url:
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{public_base(request)}{request.url.path}{query}"
    return str(request.url)


async def _raw_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is over the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"the body is over the {limit}-byte limit")
    return bytes(body)


@router.head(
    "/{connection_id}",
    summary="Probe a receiver (Trello sends HEAD before creating a webhook)",
    responses={404: {"description": "no such connection"}},
)
async def probe(connection_id: IdPath, request: Request) -> Response:
    known = await run_in_threadpool(receiver_for(request).known, connection_id)
    return Response(status_code=200 if known else 404)


@router.post(
    "/{connection_id}",
    summary="Receive a delivery: verified, stored, acknowledged; applied later by a worker",
    response_model=None,
    responses={
        200: {"model": DeliveryReceipt, "description": "stored (or a known redelivery)"},
        401: REJECTED,
        404: {"description": "no such connection"},
        413: {"description": "body over the size limit"},
    },
)
async def receive(connection_id: IdPath, request: Request) -> Response:
    body = await _raw_body(request, worker_settings(request).max_body_bytes)
    delivery = WebhookRequest(body=body, headers=dict(request.headers), url=_delivered_to(request))
    receiver = receiver_for(request)
    receipt = receiver.receive_now(connection_id, delivery)
    if receipt is None:  # it would wait (facts to load, another writer): in a thread, then
        receipt = await run_in_threadpool(receiver.receive, connection_id, delivery)
    if receipt.status is ReceiptStatus.HANDSHAKE:
        return Response(status_code=200, headers={"X-Hook-Secret": receipt.hook_secret or ""})
    if receipt.status is ReceiptStatus.ACCEPTED:
        wake = getattr(request.app.state, "on_delivery", None)
        if callable(wake):
            wake(connection_id)
    content = {"status": receipt.status.value, "delivery_id": receipt.delivery_id}
    return JSONResponse(content, status_code=200)
