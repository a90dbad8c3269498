"""One /v1/progress answer over all five tools, each synced from its own simulator."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.services import Services
from sandbox.contract import Simulator
from sandbox.registry import SIMULATORS
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment, run_sync
from sync.model import SyncKind, Tool
from sync.settings import Settings
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from tests.fakes import FakeClock, FakeSleep


@pytest.fixture
def simulators() -> dict[Tool, Simulator]:
    return {tool: SIMULATORS[tool](items=40) for tool in Tool}


@pytest.fixture
def everywhere(
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    simulators: dict[Tool, Simulator],
) -> SyncEnvironment:
    """One engine whose every connection reaches its own tool's simulator."""
    return SyncEnvironment(
        sessions=db,
        box=box,
        settings=Settings(),
        clock=clock,
        sleep=sleep,
        monotonic=clock.monotonic,
        transport_for=lambda c: httpx.ASGITransport(app=simulators[Tool(c.tool)].app),
    )


async def sync_all(env: SyncEnvironment, simulators: dict[Tool, Simulator]) -> None:
    for tool, simulator in simulators.items():
        with unit_of_work(env.sessions) as session:
            connection_id = add_connection(
                session,
                env.box,
                name=f"team-{tool.value}",
                tool=tool,
                base_url="http://127.0.0.1:9",
                credentials=simulator.credentials,
                scope=simulator.scope,
                options=simulator.options,
                now=env.clock(),
            ).id
        summary = await run_sync(env, connection_id, SyncKind.FULL)
        assert summary.status.value == "succeeded", (tool, summary.errors)


async def test_progress_by_tool_consolidates_all_five(
    everywhere: SyncEnvironment,
    simulators: dict[Tool, Simulator],
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
) -> None:
    await sync_all(everywhere, simulators)

    response = await client.get("/v1/progress?group_by=tool", headers=read_headers)

    groups = {g["key"]: g for g in response.json()["groups"]}
    assert set(groups) == {tool.value for tool in Tool}
    for tool, simulator in simulators.items():
        group = groups[tool.value]
        assert group["total"] == len(simulator.work_item_ids()), tool
        assert (
            group["todo"] + group["in_progress"] + group["done"] + group["cancelled"]
            == (group["total"])
        )
        (source,) = group["freshness"]
        assert (source["tool"], source["connection_name"]) == (tool.value, f"team-{tool.value}")
        assert source["age_seconds"] == 0.0


async def test_items_from_every_tool_page_through_one_listing(
    everywhere: SyncEnvironment,
    simulators: dict[Tool, Simulator],
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    services: Services,
) -> None:
    await sync_all(everywhere, simulators)
    seen: dict[str, int] = {}
    cursor: str | None = None
    while True:
        url = httpx.URL("/v1/items?limit=70")
        if cursor:
            url = url.copy_merge_params({"cursor": cursor})
        body = (await client.get(url, headers=read_headers)).json()
        for item in body["data"]:
            seen[item["tool"]] = seen.get(item["tool"], 0) + 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == {t.value: len(s.work_item_ids()) for t, s in simulators.items()}
