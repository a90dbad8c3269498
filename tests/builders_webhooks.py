"""Builders for webhook and worker tests: connections with a webhook secret, simulators by
tool, deterministic worker settings, and deliveries posted to the receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sandbox.contract import Delivery, Simulator
from sandbox.registry import SIMULATORS
from sync.connectors import CONNECTORS
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment
from sync.engine.worker import Worker
from sync.mapping.registry import MAPPINGS
from sync.model import Tool
from sync.settings import WorkerSettings
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from sync.store.inbox_tables import WebhookDelivery
from tests.builders import make_environment
from tests.fakes import FakeClock, FakeSleep

SECRET = "It's a Secret to Everybody"
BASE_URL = "http://127.0.0.1:8199"

#: Tools with a simulator, a connector and a mapping: the ones webhooks run end to end for.
TOOLS = [tool for tool in SIMULATORS if tool in CONNECTORS and tool in MAPPINGS]


def simulator_for(tool: Tool, *, items: int = 40, seed: int = 7) -> Simulator:
    return SIMULATORS[tool](items=items, seed=seed)


def environment_for(
    simulator: Simulator,
    *,
    sessions: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    max_attempts: int = 2,
) -> SyncEnvironment:
    return make_environment(
        sessions=sessions,
        box=box,
        clock=clock,
        sleep=sleep,
        app=simulator.app,
        max_attempts=max_attempts,
    )


def secret_credentials(tool: Tool, secret: str = SECRET) -> dict[str, str]:
    """Trello signs with the application secret; the others use a webhook secret."""
    if tool is Tool.TRELLO:
        return {"secret": secret}
    return {"webhook_secret": secret}


def add_webhook_connection(
    env: SyncEnvironment,
    simulator: Simulator,
    tool: Tool,
    *,
    name: str | None = None,
    secret: str | None = SECRET,
    options: Mapping[str, Any] | None = None,
) -> int:
    credentials = dict(simulator.credentials)
    if secret is not None:
        credentials.update(secret_credentials(tool, secret))
    with unit_of_work(env.sessions) as session:
        connection = add_connection(
            session,
            env.box,
            name=name or f"{tool.value}-hooks",
            tool=tool,
            base_url=BASE_URL,
            credentials=credentials,
            scope=simulator.scope,
            options={**simulator.options, **(options or {})},
            now=env.clock(),
        )
        return connection.id


def quiet_settings(**overrides: Any) -> WorkerSettings:
    """No scheduled polling unless asked: tests decide what is due."""
    values: dict[str, Any] = {
        "incremental_every_minutes": 0,
        "census_every_hours": 0,
        "lease_seconds": 60,
        "linger_seconds": 0,
        "batch_window_seconds": 0,
        "poll_seconds": 0.01,
        "max_attempts": 3,
        "retry_base_seconds": 10,
        "stop_grace_seconds": 1,
        **overrides,
    }
    return WorkerSettings(**values)


def make_worker(env: SyncEnvironment, **overrides: Any) -> Worker:
    return Worker(env, quiet_settings(**overrides), owner="worker-a")


async def post(
    client: httpx.AsyncClient, connection_id: int, delivery: Delivery, *, query: str = ""
) -> httpx.Response:
    return await client.post(
        f"/webhooks/{connection_id}{query}", content=delivery.body, headers=dict(delivery.headers)
    )


def receiver_url(connection_id: int) -> str:
    """The URL the in-process API client posts to (Trello signs it)."""
    return f"http://pmbridge.test/webhooks/{connection_id}"


def inbox_rows(sessions: sessionmaker[Session]) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def item_row(sessions: sessionmaker[Session], connection_id: int, vendor_id: str) -> t.WorkItem:
    with sessions() as session:
        return session.scalars(
            select(t.WorkItem).where(
                t.WorkItem.connection_id == connection_id, t.WorkItem.vendor_id == vendor_id
            )
        ).one()


def count_items(sessions: sessionmaker[Session], connection_id: int) -> int:
    with sessions() as session:
        value = session.scalar(
            select(func.count())
            .select_from(t.WorkItem)
            .where(t.WorkItem.connection_id == connection_id)
        )
        return value or 0


def jira_delivery(
    issue_id: str,
    *,
    event: str = "jira:issue_updated",
    secret: str = SECRET,
    stamp: int = 0,
    identifier: str | None = None,
) -> Delivery:
    """A Jira admin-webhook delivery, signed ``X-Hub-Signature: sha256=...`` (FACTS.md §1.5)."""
    body = json.dumps(
        {
            "timestamp": 1_764_000_000_000 + stamp,
            "webhookEvent": event,
            "issue": {"id": issue_id, "fields": {"summary": "what the payload claims"}},
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature": f"sha256={signature}", "Content-Type": "application/json"}
    if identifier is not None:
        headers["X-Atlassian-Webhook-Identifier"] = identifier
    return Delivery(body=body, headers=headers)
