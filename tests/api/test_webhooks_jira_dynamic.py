"""Jira dynamic webhooks end to end, against the Jira simulator in-process: an OAuth connection
registers by API, the simulator's JWT-signed delivery is accepted by the receiver and applied
by the worker, the registration is refreshed before its 30 days run out, and one Jira forgot
becomes expired."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from api.services import Services
from sandbox.contract import Delivery
from sandbox.deliveries import dispatch
from sandbox.jira import JiraSimulator
from sync.engine.connections import add_connection
from sync.engine.runner import run_sync
from sync.model import SyncKind, SyncStatus, Tool
from sync.store import inbox
from sync.store.database import unit_of_work
from tests.api.conftest import make_key
from tests.builders import make_jira_simulator
from tests.builders_webhooks import (
    BASE_URL,
    inbox_rows,
    item_row,
    jira_delivery,
    make_worker,
    post,
)
from tests.fakes import FakeClock

CLIENT_SECRET = "oauth-app-client-secret-for-the-simulator"
WEBHOOK_SECRET = "admin-webhook-secret-0123456789abcdef"
THIRTY_DAYS = timedelta(days=30)


@pytest.fixture
def simulator() -> JiraSimulator:
    return make_jira_simulator(issues=60, client_secret=CLIENT_SECRET)


async def add_oauth_connection(
    services: Services,
    *,
    client_secret: str | None = CLIENT_SECRET,
    webhook_secret: str | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    credentials = {"access_token": "demo-token"}
    if client_secret is not None:
        credentials["client_secret"] = client_secret
    if webhook_secret is not None:
        credentials["webhook_secret"] = webhook_secret
    with unit_of_work(services.sessions) as session:
        connection_id = add_connection(
            session,
            services.box,
            name="jira-oauth",
            tool=Tool.JIRA,
            base_url=BASE_URL,
            credentials=credentials,
            scope=("CRM", "PIPE"),
            options=options or {},
            now=services.clock(),
        ).id
    summary = await run_sync(services.sync, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    return connection_id


def receiver(connection_id: int) -> str:
    """Loopback, as the simulator posts only there; the in-process client routes it to us."""
    return f"http://127.0.0.1:8000/webhooks/{connection_id}"


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], connection_id: int
) -> httpx.Response:
    return await client.post(
        f"/admin/connections/{connection_id}/webhooks",
        json={"callback_url": receiver(connection_id)},
        headers=headers,
    )


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def later(clock: FakeClock, simulator: JiraSimulator, delta: timedelta) -> None:
    """Time passes for pmbridge and for Jira alike."""
    clock.advance(delta.total_seconds())
    simulator.set_clock(clock())


def issue_in(simulator: JiraSimulator, project_key: str) -> str:
    project = simulator.projects[project_key]
    return str(next(i.id for i in simulator.issues.values() if i.project_id == project.id))


def bearer_delivery(issue_id: str, *, secret: str, expires: datetime) -> Delivery:
    token = jwt.encode({"exp": int(expires.timestamp())}, secret, algorithm="HS256")
    body = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"id": issue_id}}).encode()
    return Delivery(body=body, headers={"Authorization": f"Bearer {token}"})


async def test_an_oauth_connection_registers_by_api_and_its_jwt_deliveries_are_applied(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    clock: FakeClock,
    admin_headers: dict[str, str],
) -> None:
    connection_id = await add_oauth_connection(services)

    response = await register(client, admin_headers, connection_id)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["instructions"] is None
    [registration] = body["registrations"]
    assert (registration["mode"], registration["state"], registration["vendor_webhook_id"]) == (
        "api",
        "active",
        "10000",
    )
    assert registration["target"] == 'project IN ("CRM", "PIPE")'
    assert when(registration["expires_at"]) == clock() + THIRTY_DAYS
    webhook = simulator.webhooks[10000]
    assert (webhook.url, webhook.jql_filter) == (receiver(connection_id), registration["target"])
    assert webhook.events == ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")
    listed = await client.get(f"/admin/connections/{connection_id}/webhooks", headers=admin_headers)
    assert [r["expires_at"] for r in listed.json()["registrations"]] == [registration["expires_at"]]

    later(clock, simulator, timedelta(minutes=5))
    simulator.update_issue(issue_in(simulator, "ENBL"), summary="Outside the filter")
    assert simulator.take_outbox() == []
    issue = issue_in(simulator, "CRM")
    simulator.update_issue(issue, summary="Renamed in Jira")
    [answer] = await dispatch(simulator.take_outbox(), client=client)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "accepted"
    report = await make_worker(services.sync).run_once()
    assert report.applied == 1
    assert item_row(services.sessions, connection_id, issue).title == "Renamed in Jira"
    assert [r.state for r in inbox_rows(services.sessions)] == ["done"]


async def test_the_client_secret_verifies_jwts_only_and_the_webhook_secret_hmacs_only(
    client: httpx.AsyncClient, services: Services, simulator: JiraSimulator, clock: FakeClock
) -> None:
    connection_id = await add_oauth_connection(services, webhook_secret=WEBHOOK_SECRET)
    issue = issue_in(simulator, "CRM")
    soon = clock() + timedelta(minutes=3)

    cases = [
        (bearer_delivery(issue, secret=CLIENT_SECRET, expires=soon), 200),
        (jira_delivery(issue, secret=WEBHOOK_SECRET, stamp=1), 200),  # an admin webhook
        (bearer_delivery(issue, secret=WEBHOOK_SECRET, expires=soon), 401),
        (jira_delivery(issue, secret=CLIENT_SECRET, stamp=2), 401),
        (bearer_delivery(issue, secret=CLIENT_SECRET, expires=clock() - timedelta(hours=1)), 401),
    ]
    statuses = [(await post(client, connection_id, d)).status_code for d, _ in cases]

    assert statuses == [expected for _, expected in cases]
    assert len(inbox_rows(services.sessions)) == 2


async def test_a_jwt_delivery_to_a_connection_without_the_client_secret_is_refused(
    client: httpx.AsyncClient, services: Services, simulator: JiraSimulator, clock: FakeClock
) -> None:
    connection_id = await add_oauth_connection(
        services, client_secret=None, webhook_secret=WEBHOOK_SECRET
    )
    delivery = bearer_delivery(
        issue_in(simulator, "CRM"), secret=CLIENT_SECRET, expires=clock() + timedelta(minutes=3)
    )
    response = await post(client, connection_id, delivery)
    assert response.status_code == 401
    assert "client_secret" in response.json()["error"]["message"]


async def test_refreshing_25_days_later_extends_the_expiry_from_the_vendor(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    clock: FakeClock,
    admin_headers: dict[str, str],
) -> None:
    connection_id = await add_oauth_connection(services)
    [registration] = (await register(client, admin_headers, connection_id)).json()["registrations"]
    later(clock, simulator, timedelta(days=25))

    response = await client.post(
        f"/admin/connections/{connection_id}/webhooks/refresh", headers=admin_headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["refreshed"], body["expired"]) == ([registration["id"]], [])
    [refreshed] = body["registrations"]
    assert refreshed["state"] == "active"
    assert when(refreshed["expires_at"]) == clock() + THIRTY_DAYS
    assert when(refreshed["expires_at"]) > when(registration["expires_at"])
    assert simulator.webhooks[10000].expires_ms == int((clock() + THIRTY_DAYS).timestamp() * 1000)


async def test_a_registration_jira_forgot_becomes_expired_with_the_reason(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    admin_headers: dict[str, str],
) -> None:
    connection_id = await add_oauth_connection(services)
    [registration] = (await register(client, admin_headers, connection_id)).json()["registrations"]
    simulator.forget_webhook(10000)

    response = await client.post(
        f"/admin/connections/{connection_id}/webhooks/refresh", headers=admin_headers
    )

    body = response.json()
    assert (body["refreshed"], body["expired"]) == ([], [registration["id"]])
    [expired] = body["registrations"]
    assert expired["state"] == "expired"
    assert "Jira no longer knows webhook 10000" in expired["state_reason"]
    assert expired["expires_at"] == registration["expires_at"]


async def test_registering_again_replaces_the_earlier_webhook_at_jira(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    admin_headers: dict[str, str],
) -> None:
    connection_id = await add_oauth_connection(services)
    [first] = (await register(client, admin_headers, connection_id)).json()["registrations"]

    response = await register(client, admin_headers, connection_id)

    assert response.status_code == 201, response.text
    [second] = response.json()["registrations"]
    assert (second["state"], second["vendor_webhook_id"]) == ("active", "10001")
    listed = await client.get(f"/admin/connections/{connection_id}/webhooks", headers=admin_headers)
    states = {r["id"]: (r["state"], r["state_reason"]) for r in listed.json()["registrations"]}
    assert states == {
        first["id"]: ("expired", f"replaced by registration {second['id']}"),
        second["id"]: ("active", None),
    }
    assert list(simulator.webhooks) == [10001]


async def test_a_replaced_webhook_jira_would_not_delete_is_named_in_the_reason(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    admin_headers: dict[str, str],
) -> None:
    connection_id = await add_oauth_connection(services)
    [first] = (await register(client, admin_headers, connection_id)).json()["registrations"]
    simulator.fail_next(500, path_contains="/rest/api/3/webhook", method="DELETE")

    response = await register(client, admin_headers, connection_id)

    assert response.status_code == 201, response.text
    [second] = response.json()["registrations"]
    assert second["state"] == "active"
    listed = await client.get(f"/admin/connections/{connection_id}/webhooks", headers=admin_headers)
    [expired] = [r for r in listed.json()["registrations"] if r["id"] == first["id"]]
    assert expired["state"] == "expired"
    assert expired["state_reason"].startswith(f"replaced by registration {second['id']}; ")
    assert "Jira could not be told to delete webhook 10000" in expired["state_reason"]
    assert "HTTP 500" in expired["state_reason"]
    assert sorted(simulator.webhooks) == [10000, 10001]


async def test_a_failed_registration_leaves_the_earlier_one_live(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    admin_headers: dict[str, str],
) -> None:
    connection_id = await add_oauth_connection(services)
    [first] = (await register(client, admin_headers, connection_id)).json()["registrations"]
    simulator.fail_next(400, path_contains="/rest/api/3/webhook", method="POST")

    [second] = (await register(client, admin_headers, connection_id)).json()["registrations"]

    assert second["state"] == "failed"
    with services.sessions() as session:
        assert [r.id for r in inbox.live_registrations(session, connection_id)] == [first["id"]]
    assert list(simulator.webhooks) == [10000]


async def test_without_the_client_secret_registering_is_a_422_that_says_to_add_it(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    admin_headers: dict[str, str],
) -> None:
    connection_id = await add_oauth_connection(services, client_secret=None)

    response = await register(client, admin_headers, connection_id)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "credentials.client_secret"
    assert "client_secret" in error["message"]
    assert simulator.webhooks == {}
    with services.sessions() as session:
        assert inbox.list_registrations(session, connection_id) == []


async def test_a_registration_jira_refuses_is_a_failed_row_with_jiras_reason(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    admin_headers: dict[str, str],
) -> None:
    # Version events are in the docs but not in the spec's enum: the simulator refuses them.
    connection_id = await add_oauth_connection(
        services, options={"webhook_events": ["jira:version_released"]}
    )

    response = await register(client, admin_headers, connection_id)

    assert response.status_code == 201
    [registration] = response.json()["registrations"]
    assert (registration["state"], registration["vendor_webhook_id"]) == ("failed", None)
    assert "HTTP 400" in registration["state_reason"]
    assert "jira:version_released" in registration["state_reason"]
    assert simulator.webhooks == {}


async def test_refreshing_needs_an_admin_key_and_a_known_connection(
    client: httpx.AsyncClient, services: Services, admin_headers: dict[str, str]
) -> None:
    read = {"Authorization": f"Bearer {make_key(services, 'read')}"}
    assert (
        await client.post("/admin/connections/1/webhooks/refresh", headers=read)
    ).status_code == (403)
    missing = await client.post("/admin/connections/999/webhooks/refresh", headers=admin_headers)
    assert missing.status_code == 404
