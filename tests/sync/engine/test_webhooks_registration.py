"""Registering receivers: Trello and Asana through their APIs (one webhook per board or
project, Asana's handshake answered while the creating call is in flight), the other tools
by hand with a fresh secret and the steps to paste it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.contract import Simulator
from sync.connectors.base import WebhookRequest
from sync.engine.runner import SyncEnvironment
from sync.engine.webhooks import ReceiptStatus, WebhookReceiver, register_webhooks
from sync.errors import InvalidRequest
from sync.model import Tool
from sync.store import inbox
from sync.store.crypto import SecretBox
from tests.builders_webhooks import (
    TOOLS,
    add_webhook_connection,
    environment_for,
    simulator_for,
)
from tests.fakes import FakeClock, FakeSleep

PUBLIC = "https://pmbridge.example.com/webhooks/1"


class Intercept:
    """The simulator, except for ``POST .../webhooks``, which ``answer`` handles."""

    def __init__(self, app: ASGIApp, answer: Callable[[dict[str, Any]], tuple[int, Any]]) -> None:
        self.app = app
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (
            scope["method"] == "POST" and scope["path"].endswith("/webhooks")
        ):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        call = {
            "query": {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()},
            "json": json.loads(body) if body else None,
        }
        self.calls.append(call)
        status, payload = self.answer(call)
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})


def rig(
    tool: Tool,
    answer: Callable[[dict[str, Any]], tuple[int, Any]],
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    *,
    secret: str | None = "app-secret",  # noqa: S107 - a test secret
) -> tuple[Simulator, Intercept, SyncEnvironment, int]:
    if tool not in TOOLS:
        pytest.skip(f"the {tool.value} connector or simulator is not registered yet")
    simulator = simulator_for(tool, items=10)
    intercept = Intercept(simulator.app, answer)
    proxied: Any = type("Proxied", (), {"app": intercept})()
    env = environment_for(proxied, sessions=db, box=box, clock=clock, sleep=sleep)
    connection_id = add_webhook_connection(env, simulator, tool, secret=secret)
    return simulator, intercept, env, connection_id


async def test_trello_gets_one_webhook_per_board_and_signs_over_the_registered_url(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    counter = iter(range(1, 100))
    simulator, intercept, env, connection_id = rig(
        Tool.TRELLO,
        lambda call: (200, {"id": f"hook{next(counter)}", "idModel": call["query"]["idModel"]}),
        db,
        box,
        clock,
        sleep,
    )
    result = await register_webhooks(env, connection_id, callback_url=PUBLIC)

    assert result.instructions is None
    assert intercept.calls
    assert all(c["query"]["callbackURL"] == PUBLIC for c in intercept.calls)
    with db() as session:
        rows = inbox.list_registrations(session, connection_id)
    assert {(r.mode, r.state, r.callback_url) for r in rows} == {("api", "active", PUBLIC)}
    assert [r.vendor_webhook_id for r in rows] == [f"hook{i}" for i in range(1, len(rows) + 1)]
    assert {r.target for r in rows} == {c["query"]["idModel"] for c in intercept.calls}

    # Behind a proxy the request URL differs; Trello signed the URL it was given.
    vendor_id = simulator.work_item_ids()[0]
    delivery = simulator.delivery(vendor_id, secret="app-secret", url=PUBLIC)
    receiver = WebhookReceiver(db, box, clock=clock)
    internal = WebhookRequest(delivery.body, delivery.headers, "http://10.0.0.5:8000/webhooks/1")
    assert receiver.receive(connection_id, internal).status is ReceiptStatus.ACCEPTED


async def test_trello_cannot_be_registered_without_the_app_secret(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    _sim, intercept, env, connection_id = rig(
        Tool.TRELLO, lambda _c: (200, {}), db, box, clock, sleep, secret=None
    )
    with pytest.raises(InvalidRequest, match="application secret"):
        await register_webhooks(env, connection_id, callback_url=PUBLIC)
    assert intercept.calls == []


async def test_a_refusal_by_the_tool_is_a_failed_registration_with_its_reason(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    _sim, _intercept, env, connection_id = rig(
        Tool.TRELLO, lambda _c: (400, {"message": "invalid callbackURL"}), db, box, clock, sleep
    )
    await register_webhooks(env, connection_id, callback_url=PUBLIC)
    with db() as session:
        rows = inbox.list_registrations(session, connection_id)
    assert rows
    assert {r.state for r in rows} == {"failed"}
    assert "HTTP 400" in (rows[0].state_reason or "")


async def test_asanas_handshake_arrives_during_the_call_and_its_secret_is_kept(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    receiver = WebhookReceiver(db, box, clock=clock)
    connection: dict[str, int] = {}

    def answer(call: dict[str, Any]) -> tuple[int, Any]:
        project = call["json"]["data"]["resource"]
        secret = f"secret-for-{project}"
        # Asana POSTs the handshake to the target before it answers the creating call.
        receipt = receiver.receive(connection["id"], WebhookRequest(b"", {"X-Hook-Secret": secret}))
        assert receipt.hook_secret == secret
        return 201, {"data": {"gid": f"wh-{project}", "active": True}, "X-Hook-Secret": secret}

    simulator, intercept, env, connection_id = rig(
        Tool.ASANA, answer, db, box, clock, sleep, secret=None
    )
    connection["id"] = connection_id
    await register_webhooks(env, connection_id, callback_url=PUBLIC, receiver=receiver)

    with db() as session:
        rows = inbox.list_registrations(session, connection_id)
    assert len(rows) == len(intercept.calls) >= 1
    assert {(r.state, r.mode) for r in rows} == {("active", "api")}
    assert all(r.secret is not None for r in rows)
    # Each webhook signs with its own secret; any of them verifies.
    vendor_id = simulator.work_item_ids()[0]
    project = intercept.calls[-1]["json"]["data"]["resource"]
    delivery = simulator.delivery(vendor_id, secret=f"secret-for-{project}", url="")
    receipt = receiver.receive(connection_id, WebhookRequest(delivery.body, delivery.headers))
    assert receipt.status is ReceiptStatus.ACCEPTED


async def test_an_asana_webhook_whose_handshake_never_came_is_failed(
    db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    _sim, _intercept, env, connection_id = rig(
        Tool.ASANA, lambda _c: (201, {"data": {"gid": "wh"}}), db, box, clock, sleep, secret=None
    )
    await register_webhooks(env, connection_id, callback_url=PUBLIC)
    with db() as session:
        rows = inbox.list_registrations(session, connection_id)
    assert {r.state for r in rows} == {"failed"}
    assert "handshake" in (rows[0].state_reason or "")


@pytest.mark.parametrize("tool", [Tool.JIRA, Tool.WORKTILE, Tool.PINGCODE])
async def test_other_tools_get_a_manual_registration_and_steps(
    tool: Tool, db: sessionmaker[Session], box: SecretBox, clock: FakeClock, sleep: FakeSleep
) -> None:
    _sim, intercept, env, connection_id = rig(
        tool, lambda _c: (500, {}), db, box, clock, sleep, secret=None
    )
    result = await register_webhooks(env, connection_id, callback_url=PUBLIC)
    assert intercept.calls == []
    assert result.instructions is not None
    assert result.instructions.url == PUBLIC
    assert result.instructions.secret
    assert len(result.instructions.secret) >= 40
    assert any(PUBLIC in step for step in result.instructions.steps)
    with db() as session:
        [row] = inbox.list_registrations(session, connection_id)
    assert (row.mode, row.state) == ("manual", "active")
    assert row.secret is not None
    assert result.instructions.secret.encode() not in row.secret
