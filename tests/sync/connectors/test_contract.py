"""The contract every connector must honour, run against each tool's simulator.

Parametrised over the connector registry: a connector added to ``CONNECTORS`` without a
simulator in ``SIMULATORS`` fails here, on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox.contract import Simulator
from sandbox.registry import SIMULATORS
from sync.connectors import CONNECTORS
from sync.connectors.base import ConnectionConfig, Connector, WebhookRequest
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment, run_sync
from sync.errors import CredentialsRejected, WebhookRejected
from sync.http.client import VendorClient
from sync.http.rate_limit import RateLimit
from sync.http.retry import RetryPolicy
from sync.model import Resource, SyncKind, SyncStatus, Tool
from sync.store import tables as t
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from tests.builders import make_environment
from tests.fakes import FakeClock, FakeSleep

TOOLS = sorted(CONNECTORS)
BASE_URL = "http://127.0.0.1:9"
RECEIVER = "https://pmbridge.example.com/webhooks/1"


@pytest.fixture(params=TOOLS, ids=[tool.value for tool in TOOLS])
def tool(request: pytest.FixtureRequest) -> Tool:
    tool: Tool = request.param
    return tool


@pytest.fixture
def simulator(tool: Tool) -> Simulator:
    assert tool in SIMULATORS, f"{tool} has a connector but no simulator"
    return SIMULATORS[tool](items=120)


@pytest.fixture
def env(
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    simulator: Simulator,
) -> SyncEnvironment:
    return make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=simulator.app)


def connect(env: SyncEnvironment, tool: Tool, simulator: Simulator, **credentials: str) -> int:
    with unit_of_work(env.sessions) as session:
        return add_connection(
            session,
            env.box,
            name=f"{tool.value}-contract",
            tool=tool,
            base_url=BASE_URL,
            credentials={**simulator.credentials, **credentials},
            scope=simulator.scope,
            options=simulator.options,
            now=env.clock(),
        ).id


def live_ids(env: SyncEnvironment) -> set[str]:
    with env.sessions() as session:
        return set(
            session.scalars(
                select(t.WorkItem.vendor_id).where(
                    t.WorkItem.deleted_at.is_(None), t.WorkItem.access_lost_at.is_(None)
                )
            )
        )


def connector_for(
    tool: Tool,
    simulator: Simulator,
    sleep: FakeSleep,
    clock: FakeClock,
    *,
    credentials: Mapping[str, str] | None = None,
) -> Connector:
    """A connector wired straight to the simulator, without the engine."""
    cls = CONNECTORS[tool]
    config = ConnectionConfig(
        base_url=BASE_URL,
        credentials=credentials or simulator.credentials,
        scope=simulator.scope,
        options=simulator.options,
    )
    client = VendorClient(
        tool=tool.value,
        base_url=BASE_URL,
        rate_limit=RateLimit(10_000, 1.0),
        auth=cls.auth(config),
        transport=httpx.ASGITransport(app=simulator.app),
        retry=RetryPolicy(sleep=sleep),
        clock=clock,
    )
    return cls(client, config)


def test_a_connector_declares_its_facts(tool: Tool) -> None:
    cls = CONNECTORS[tool]
    assert cls.tool is tool
    assert urlsplit(cls.default_base_url).scheme == "https"
    assert Resource.WORK_ITEMS in cls.resources
    assert cls.rate_limit.source, "cite where the rate budget comes from"
    assert cls.retry_after_headers


async def test_a_full_sync_stores_exactly_the_vendors_items(
    env: SyncEnvironment, tool: Tool, simulator: Simulator
) -> None:
    summary = await run_sync(env, connect(env, tool, simulator), SyncKind.FULL)
    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert live_ids(env) == set(simulator.work_item_ids())


async def test_a_replay_changes_nothing(
    env: SyncEnvironment, tool: Tool, simulator: Simulator
) -> None:
    connection_id = connect(env, tool, simulator)
    await run_sync(env, connection_id, SyncKind.FULL)
    again = await run_sync(env, connection_id, SyncKind.FULL)
    assert again.status is SyncStatus.SUCCEEDED, again.errors
    assert again.upserted == 0


async def test_incremental_sync_picks_up_a_change(
    env: SyncEnvironment, tool: Tool, simulator: Simulator
) -> None:
    connection_id = connect(env, tool, simulator)
    await run_sync(env, connection_id, SyncKind.FULL)
    target = sorted(simulator.work_item_ids())[0]
    simulator.touch_item(target, title="Renamed by the contract suite")

    summary = await run_sync(env, connection_id, SyncKind.INCREMENTAL)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert summary.upserted >= 1
    with env.sessions() as session:
        title = session.scalar(select(t.WorkItem.title).where(t.WorkItem.vendor_id == target))
    assert title == "Renamed by the contract suite"


async def test_census_finds_a_deletion(
    env: SyncEnvironment, tool: Tool, simulator: Simulator
) -> None:
    connection_id = connect(env, tool, simulator)
    await run_sync(env, connection_id, SyncKind.FULL)
    victim = sorted(simulator.work_item_ids())[1]
    simulator.delete_item(victim)

    summary = await run_sync(env, connection_id, SyncKind.CENSUS)

    assert summary.status is SyncStatus.SUCCEEDED, summary.errors
    assert summary.deleted == 1
    assert live_ids(env) == set(simulator.work_item_ids())


async def test_wrong_credentials_are_rejected_as_such(
    env: SyncEnvironment, tool: Tool, simulator: Simulator
) -> None:
    wrong = {name: value + "-wrong" for name, value in simulator.credentials.items()}
    summary = await run_sync(env, connect(env, tool, simulator, **wrong), SyncKind.FULL)
    assert summary.status is SyncStatus.FAILED
    assert summary.errors[0]["type"] == "CredentialsRejected"


async def test_fetch_one_refreshes_an_item_and_knows_a_deleted_one(
    tool: Tool, simulator: Simulator, sleep: FakeSleep, clock: FakeClock
) -> None:
    connector = connector_for(tool, simulator, sleep, clock)
    present, gone = sorted(simulator.work_item_ids())[:2]
    simulator.delete_item(gone)
    await connector.discover()
    assert await connector.fetch_one(Resource.WORK_ITEMS, present) is not None
    assert await connector.fetch_one(Resource.WORK_ITEMS, gone) is None


async def test_check_rejects_wrong_credentials(
    tool: Tool, simulator: Simulator, sleep: FakeSleep, clock: FakeClock
) -> None:
    wrong = {name: value + "-wrong" for name, value in simulator.credentials.items()}
    connector = connector_for(tool, simulator, sleep, clock, credentials=wrong)
    with pytest.raises(CredentialsRejected):
        await connector.check()


def test_a_signed_delivery_verifies_and_names_the_item(
    tool: Tool, simulator: Simulator, sleep: FakeSleep, clock: FakeClock
) -> None:
    connector = connector_for(tool, simulator, sleep, clock)
    target = sorted(simulator.work_item_ids())[0]
    delivery = simulator.delivery(target, secret="s3cret", url=RECEIVER)
    request = WebhookRequest(body=delivery.body, headers=delivery.headers, url=RECEIVER)

    connector.verify_webhook(request, "s3cret")
    notices = connector.parse_webhook(request)

    assert any(n.resource is Resource.WORK_ITEMS and n.vendor_id == target for n in notices)


def test_a_forged_delivery_is_rejected(
    tool: Tool, simulator: Simulator, sleep: FakeSleep, clock: FakeClock
) -> None:
    connector = connector_for(tool, simulator, sleep, clock)
    target = sorted(simulator.work_item_ids())[0]
    delivery = simulator.delivery(target, secret="s3cret", url=RECEIVER)
    genuine = WebhookRequest(body=delivery.body, headers=delivery.headers, url=RECEIVER)
    with pytest.raises(WebhookRejected):
        connector.verify_webhook(genuine, "another secret")
    with pytest.raises(WebhookRejected):
        connector.verify_webhook(WebhookRequest(body=delivery.body, headers={}), "s3cret")
    if simulator.signs_body:
        tampered = WebhookRequest(body=delivery.body + b" ", headers=delivery.headers, url=RECEIVER)
        with pytest.raises(WebhookRejected):
            connector.verify_webhook(tampered, "s3cret")
