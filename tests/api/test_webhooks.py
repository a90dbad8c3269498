"""The receiver over HTTP (no API key; the vendor's signature authenticates) and the admin
views of webhooks: registration or paste-instructions, state, the inbox and retries."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.services import Services
from sandbox.contract import Delivery
from sandbox.jira import JiraSimulator
from sandbox.registry import JiraHandle
from sync.model import Tool
from sync.settings import WorkerSettings
from tests.api.conftest import make_key
from tests.builders_webhooks import (
    SECRET,
    add_webhook_connection,
    inbox_rows,
    item_row,
    jira_delivery,
    make_worker,
    post,
)


@pytest.fixture
def app(services: Services) -> FastAPI:
    app = create_app(services)
    app.state.worker_settings = WorkerSettings(max_body_bytes=2048)
    app.state.woken = []
    app.state.on_delivery = app.state.woken.append
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pmbridge.test") as http:
        yield http


@pytest.fixture
def jira_connection(services: Services) -> int:
    return add_webhook_connection(services.sync, JiraHandle(items=0), Tool.JIRA)


def issue_of(simulator: JiraSimulator) -> str:
    return str(next(iter(simulator.issues)))


# -- the receiver ---------------------------------------------------------------------------
async def test_a_delivery_is_acknowledged_without_doing_any_sync_work(
    client: httpx.AsyncClient, app: FastAPI, simulator: JiraSimulator, jira_connection: int
) -> None:
    before = simulator.request_count
    response = await post(client, jira_connection, jira_delivery(issue_of(simulator)))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "delivery_id": 1}
    assert simulator.request_count == before  # nothing fetched: a worker does that later
    assert app.state.woken == [jira_connection]  # the in-process worker is nudged


async def test_a_redelivery_is_a_duplicate_and_wakes_nobody(
    client: httpx.AsyncClient, app: FastAPI, simulator: JiraSimulator, jira_connection: int
) -> None:
    delivery = jira_delivery(issue_of(simulator))
    await post(client, jira_connection, delivery)
    response = await post(client, jira_connection, delivery)
    assert response.json()["status"] == "duplicate"
    assert app.state.woken == [jira_connection]


async def test_a_forged_delivery_is_401_and_counted_in_the_admin_view(
    client: httpx.AsyncClient,
    simulator: JiraSimulator,
    jira_connection: int,
    admin_headers: dict[str, str],
) -> None:
    forged = jira_delivery(issue_of(simulator), secret="guessed")
    response = await post(client, jira_connection, forged)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "WebhookRejected"
    status = await client.get(
        f"/admin/connections/{jira_connection}/webhooks", headers=admin_headers
    )
    assert status.json()["rejected"] == 1
    assert status.json()["deliveries"] == {"pending": 0, "processing": 0, "done": 0, "dead": 0}


async def test_a_forged_delivery_on_the_event_loops_path_is_401_too_and_stores_nothing(
    client: httpx.AsyncClient,
    simulator: JiraSimulator,
    jira_connection: int,
    admin_headers: dict[str, str],
) -> None:
    # The first delivery loads the connection's facts; later ones are verified and stored
    # on the event loop (WebhookReceiver.receive_now), where a forgery must fare the same.
    issue = issue_of(simulator)
    assert (await post(client, jira_connection, jira_delivery(issue))).status_code == 200
    forged = jira_delivery(issue, secret="guessed", stamp=1)
    response = await post(client, jira_connection, forged)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "WebhookRejected"
    status = await client.get(
        f"/admin/connections/{jira_connection}/webhooks", headers=admin_headers
    )
    assert status.json()["rejected"] == 1
    assert status.json()["deliveries"]["pending"] == 1


async def test_an_unknown_connection_is_404(client: httpx.AsyncClient) -> None:
    response = await post(client, 999, jira_delivery("1"))
    assert response.status_code == 404
    assert (await client.head("/webhooks/999")).status_code == 404


async def test_a_body_over_the_limit_is_413_and_not_stored(
    client: httpx.AsyncClient, services: Services, jira_connection: int
) -> None:
    huge = Delivery(body=b"{" + b" " * 4096 + b"}", headers={"X-Hub-Signature": "sha256=00"})
    response = await post(client, jira_connection, huge)
    assert response.status_code == 413
    assert inbox_rows(services.sessions) == []


async def test_the_receiver_needs_no_api_key_but_the_admin_views_do(
    client: httpx.AsyncClient, services: Services, jira_connection: int
) -> None:
    read = {"Authorization": f"Bearer {make_key(services, 'read')}"}
    assert (await client.get("/admin/inbox")).status_code == 401
    assert (await client.get("/admin/inbox", headers=read)).status_code == 403
    assert (await client.head(f"/webhooks/{jira_connection}")).status_code == 200


# -- registration ---------------------------------------------------------------------------
async def test_a_jira_receiver_is_registered_by_hand_with_a_fresh_secret(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    admin_headers: dict[str, str],
) -> None:
    connection_id = add_webhook_connection(
        services.sync, JiraHandle(items=0), Tool.JIRA, secret=None
    )
    response = await client.post(
        f"/admin/connections/{connection_id}/webhooks", headers=admin_headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    instructions = body["instructions"]
    assert instructions["url"] == f"http://pmbridge.test/webhooks/{connection_id}"
    assert any("WebHooks" in step for step in instructions["steps"])
    [registration] = body["registrations"]
    assert (registration["mode"], registration["state"]) == ("manual", "active")

    # The tool signs with the secret it was given; the receiver knows it from then on.
    delivery = jira_delivery(issue_of(simulator), secret=instructions["secret"])
    assert (await post(client, connection_id, delivery)).status_code == 200

    status = (
        await client.get(f"/admin/connections/{connection_id}/webhooks", headers=admin_headers)
    ).json()
    assert "secret" not in status["registrations"][0]  # shown once, never listed
    assert status["deliveries"]["pending"] == 1
    assert status["last_delivery_at"] == "2026-11-20T09:00:00Z"
    assert status["receiver_url"] == instructions["url"]


async def test_registering_an_unknown_connection_is_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post("/admin/connections/77/webhooks", headers=admin_headers)
    assert response.status_code == 404


# -- the inbox ------------------------------------------------------------------------------
async def test_dead_letters_are_listed_by_state_and_retried_on_request(
    client: httpx.AsyncClient,
    services: Services,
    simulator: JiraSimulator,
    jira_connection: int,
    admin_headers: dict[str, str],
) -> None:
    body = b"not JSON at all"
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    await post(client, jira_connection, Delivery(body, {"X-Hub-Signature": f"sha256={signature}"}))
    await post(client, jira_connection, jira_delivery(issue_of(simulator)))
    await make_worker(services.sync).run_once()

    dead = (await client.get("/admin/inbox?state=dead", headers=admin_headers)).json()
    [letter] = dead["data"]
    assert (letter["state"], letter["attempts"], letter["body_excerpt"]) == (
        "dead",
        1,
        "not JSON at all",
    )
    assert "not a Jira event" in letter["last_error"]
    done = (await client.get("/admin/inbox?state=done", headers=admin_headers)).json()
    assert [d["notices"] for d in done["data"]] == [1]

    retried = await client.post(f"/admin/inbox/{letter['id']}/retry", headers=admin_headers)
    assert retried.status_code == 200
    assert (retried.json()["state"], retried.json()["attempts"]) == ("pending", 0)
    again = await client.post(f"/admin/inbox/{done['data'][0]['id']}/retry", headers=admin_headers)
    assert again.status_code == 409
    missing = await client.post("/admin/inbox/999/retry", headers=admin_headers)
    assert missing.status_code == 404


async def test_the_inbox_pages_with_a_cursor_and_validates_its_filters(
    client: httpx.AsyncClient,
    simulator: JiraSimulator,
    jira_connection: int,
    admin_headers: dict[str, str],
) -> None:
    for stamp in range(3):
        await post(client, jira_connection, jira_delivery(issue_of(simulator), stamp=stamp))
    first = (await client.get("/admin/inbox?limit=2", headers=admin_headers)).json()
    assert [d["id"] for d in first["data"]] == [1, 2]
    rest = await client.get(
        f"/admin/inbox?limit=2&cursor={first['next_cursor']}&connection={jira_connection}",
        headers=admin_headers,
    )
    assert [d["id"] for d in rest.json()["data"]] == [3]
    assert rest.json()["next_cursor"] is None
    bad = await client.get("/admin/inbox?state=lost", headers=admin_headers)
    assert bad.status_code == 422


# -- simulators delivering over loopback ----------------------------------------------------
async def test_a_simulator_delivers_its_changes_to_a_running_server_over_loopback(
    app: FastAPI, services: Services, simulator: JiraSimulator, jira_connection: int
) -> None:
    import socket

    from pmbridge.demo import BackgroundServer
    from sandbox.deliveries import DeliverySender
    from sync.engine.runner import run_sync
    from sync.model import SyncKind

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = BackgroundServer(app, port)
    server.start()
    try:
        handle = JiraHandle(items=0)
        handle.vendor, handle.app = simulator, simulator.app  # the API's own simulator
        await run_sync(services.sync, jira_connection, SyncKind.FULL)
        url = f"http://127.0.0.1:{port}/webhooks/{jira_connection}"
        issue = handle.work_item_ids()[0]
        async with DeliverySender(handle, url=url, secret=SECRET) as sender:
            response = await sender.change(issue, title="Edited in the tool")
        assert response.status_code == 200
        await make_worker(services.sync).run_once()
        assert item_row(services.sessions, jira_connection, issue).title == "Edited in the tool"
    finally:
        server.server.should_exit = True
        server.thread.join(timeout=5)


def test_simulated_deliveries_only_go_to_loopback() -> None:
    from sandbox.deliveries import DeliverySender

    with pytest.raises(ValueError, match="loopback"):
        DeliverySender(JiraHandle(items=0), url="https://example.com/webhooks/1", secret="s")
