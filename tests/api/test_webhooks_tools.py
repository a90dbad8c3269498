"""Every tool with a simulator, through the real receiver: a correctly signed delivery is
stored and applied; a forged, wrongly signed, truncated or replayed one is rejected or
de-duplicated; Trello's HEAD probe and Asana's handshake pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.services import Services
from sandbox.contract import Delivery, Simulator
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import SyncKind, SyncStatus, Tool
from sync.settings import Settings
from sync.store.crypto import SecretBox
from tests.builders_webhooks import (
    SECRET,
    TOOLS,
    add_webhook_connection,
    environment_for,
    inbox_rows,
    item_row,
    make_worker,
    post,
    receiver_url,
    simulator_for,
)
from tests.fakes import FakeClock, FakeSleep


@dataclass
class Rig:
    tool: Tool
    simulator: Simulator
    env: SyncEnvironment
    client: httpx.AsyncClient
    connection_id: int

    def delivery(self, vendor_id: str, *, secret: str = SECRET) -> Delivery:
        return self.simulator.delivery(
            vendor_id, secret=secret, url=receiver_url(self.connection_id)
        )


@pytest.fixture(params=TOOLS, ids=[t.value for t in TOOLS])
async def rig(
    request: pytest.FixtureRequest,
    engine: Engine,
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
) -> AsyncIterator[Rig]:
    tool: Tool = request.param
    simulator = simulator_for(tool, items=25)
    env = environment_for(simulator, sessions=db, box=box, clock=clock, sleep=sleep)
    connection_id = add_webhook_connection(env, simulator, tool)
    summary = await run_sync(env, connection_id, SyncKind.FULL)
    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    services = Services(Settings(), engine, db, box, env, clock)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://pmbridge.test") as client:
        yield Rig(tool, simulator, env, client, connection_id)


def changed(rig: Rig, title: str = "Changed in the tool") -> str:
    vendor_id = rig.simulator.work_item_ids()[0]
    rig.simulator.touch_item(vendor_id, title=title)
    return vendor_id


async def test_a_signed_delivery_is_stored_then_applied(rig: Rig) -> None:
    vendor_id = changed(rig)
    response = await post(rig.client, rig.connection_id, rig.delivery(vendor_id))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"

    report = await make_worker(rig.env).run_once()

    assert report.applied == 1
    assert item_row(rig.env.sessions, rig.connection_id, vendor_id).title == "Changed in the tool"
    assert [r.state for r in inbox_rows(rig.env.sessions)] == ["done"]


async def test_a_delivery_signed_with_the_wrong_secret_is_refused(rig: Rig) -> None:
    response = await post(
        rig.client, rig.connection_id, rig.delivery(changed(rig), secret="not the secret")
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "WebhookRejected"
    assert inbox_rows(rig.env.sessions) == []


async def test_a_delivery_without_its_signature_is_refused(rig: Rig) -> None:
    delivery = rig.delivery(changed(rig))
    bare = Delivery(body=delivery.body, headers={"Content-Type": "application/json"})
    assert (await post(rig.client, rig.connection_id, bare)).status_code == 401
    assert inbox_rows(rig.env.sessions) == []


async def test_a_signature_or_token_that_is_not_ascii_is_a_counted_rejection(rig: Rig) -> None:
    """Whatever header or parameter the tool authenticates with, a forger controls its
    characters: every header of a real delivery set to non-ASCII text is a 401, not a 500."""
    delivery = rig.delivery(changed(rig))
    forged = "sha256=é".encode()  # bytes: httpx sends them as they are
    headers = {
        k.encode(): forged if k.lower() != "content-type" else v.encode()
        for k, v in delivery.headers.items()
    }
    response = await rig.client.post(
        f"/webhooks/{rig.connection_id}", content=delivery.body, headers=headers
    )
    assert response.status_code == 401
    assert inbox_rows(rig.env.sessions) == []


async def test_a_truncated_delivery_is_never_applied(rig: Rig) -> None:
    delivery = rig.delivery(changed(rig, title="Must not arrive through a truncated body"))
    cut = Delivery(body=delivery.body[: len(delivery.body) // 2], headers=delivery.headers)
    response = await post(rig.client, rig.connection_id, cut)
    if response.status_code == 200:  # a bare shared token cannot see the body was cut...
        await make_worker(rig.env).run_once()
        assert [r.state for r in inbox_rows(rig.env.sessions)] == ["dead"]  # ...parsing can
    else:
        assert response.status_code == 401
        assert inbox_rows(rig.env.sessions) == []


async def test_a_replayed_delivery_is_acknowledged_and_stored_once(rig: Rig) -> None:
    delivery = rig.delivery(changed(rig))
    first = await post(rig.client, rig.connection_id, delivery)
    again = await post(rig.client, rig.connection_id, delivery)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "delivery_id": first.json()["delivery_id"]}
    assert len(inbox_rows(rig.env.sessions)) == 1


async def test_the_head_probe_answers_for_known_connections_only(rig: Rig) -> None:
    assert (await rig.client.head(f"/webhooks/{rig.connection_id}")).status_code == 200
    assert (await rig.client.head("/webhooks/999")).status_code == 404


async def test_asanas_handshake_is_echoed_and_its_secret_verifies_deliveries(
    engine: Engine,
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
) -> None:
    if Tool.ASANA not in TOOLS:
        pytest.skip("the Asana connector or simulator is not registered yet")
    simulator: Any = simulator_for(Tool.ASANA, items=10)
    env = environment_for(simulator, sessions=db, box=box, clock=clock, sleep=sleep)
    connection_id = add_webhook_connection(env, simulator, Tool.ASANA, secret=None)
    services = Services(Settings(), engine, db, box, env, clock)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://pmbridge.test") as client:
        handshake = await post(client, connection_id, simulator.vendor.handshake("hook-secret"))
        assert handshake.status_code == 200
        assert handshake.headers["X-Hook-Secret"] == "hook-secret"
        vendor_id = simulator.work_item_ids()[0]
        delivery = simulator.delivery(vendor_id, secret="hook-secret", url="")
        assert (await post(client, connection_id, delivery)).status_code == 200
        # Once a secret is established, nobody may replace it with a handshake of their own.
        hijack = await post(client, connection_id, simulator.vendor.handshake("attacker"))
        assert hijack.status_code == 401
