"""The PingCode simulator behaves like PingCode's Open API where FACTS.md §5 says how.

Each test reads as one line of the specification; all run in-process over httpx's ASGI
transport against a small seeded enterprise.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from sandbox.pingcode import PingCodeHandle, PingCodeSimulator, serve

CREDENTIALS = {"client_id": "pmbridge-demo", "client_secret": "demo-secret"}
ITEMS = "/v1/project/work_items"


@pytest.fixture
def sim() -> PingCodeSimulator:
    return PingCodeSimulator(items=120, seed=7)


async def token_for(client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    params = {"grant_type": "client_credentials", **CREDENTIALS, **overrides}
    return await client.get("/v1/auth/token", params=params)


@pytest.fixture
async def anonymous(sim: PingCodeSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pc.test") as client:
        yield client


@pytest.fixture
async def pc(anonymous: httpx.AsyncClient) -> httpx.AsyncClient:
    token = (await token_for(anonymous)).json()["access_token"]
    anonymous.headers["Authorization"] = f"Bearer {token}"
    return anonymous


async def all_items(pc: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = []
    index = 0
    while True:
        page = (
            await pc.get(ITEMS, params={**params, "page_index": index, "page_size": 100})
        ).json()
        values.extend(page["values"])
        if not page["values"] or len(values) >= page["total"]:
            return values
        index += 1


# -- auth ---------------------------------------------------------------------------------------


async def test_client_credentials_give_a_30_day_bearer_token(anonymous: httpx.AsyncClient) -> None:
    answer = await token_for(anonymous)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 30 * 86_400


async def test_expires_in_can_be_served_as_an_epoch_time(sim: PingCodeSimulator) -> None:
    epoch_sim = PingCodeSimulator(items=0, expires_in="epoch")
    transport = httpx.ASGITransport(app=epoch_sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pc.test") as client:
        body = (await token_for(client)).json()
    expected = epoch_sim.clock() + timedelta(days=30)
    assert body["expires_in"] == int(expected.timestamp())


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"client_secret": "wrong"}, 401),
        ({"client_id": "someone-else"}, 401),
        ({"grant_type": "password"}, 400),
    ],
)
async def test_bad_token_requests_are_refused_in_the_error_shape(
    anonymous: httpx.AsyncClient, overrides: dict[str, str], status: int
) -> None:
    answer = await token_for(anonymous, **overrides)
    assert answer.status_code == status
    assert set(answer.json()) == {"code", "message"}


async def test_api_calls_need_a_live_bearer_token(
    anonymous: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    assert (await anonymous.get("/v1/project/projects")).status_code == 401
    token = (await token_for(anonymous)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await anonymous.get("/v1/project/projects", headers=headers)).status_code == 200

    sim.advance(timedelta(days=30).total_seconds())
    expired = await anonymous.get("/v1/project/projects", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["code"] == "100000"


async def test_resetting_the_secret_invalidates_issued_tokens(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    sim.reset_secret("rotated")
    assert (await pc.get("/v1/project/projects")).status_code == 401
    assert (await token_for(pc)).status_code == 401
    assert (await token_for(pc, client_secret="rotated")).status_code == 200


# -- lists ---------------------------------------------------------------------------------------


async def test_projects_are_the_quotation_tool_release_plan(pc: httpx.AsyncClient) -> None:
    page = (await pc.get("/v1/project/projects")).json()
    assert set(page) == {"page_index", "page_size", "total", "values"}
    assert (page["page_index"], page["page_size"], page["total"]) == (0, 30, 3)
    by_identifier = {p["identifier"]: p for p in page["values"]}
    assert {k: p["type"] for k, p in by_identifier.items()} == {
        "QT": "waterfall",
        "CPQ": "scrum",
        "DSC": "kanban",
    }
    assert "报价工具" in by_identifier["QT"]["name"]


async def test_a_single_project_answers_201(pc: httpx.AsyncClient, sim: PingCodeSimulator) -> None:
    answer = await pc.get(f"/v1/project/projects/{sim.project('QT').id}")
    assert answer.status_code == 201
    assert answer.json()["identifier"] == "QT"


async def test_items_page_by_index_with_a_default_of_30_and_a_cap_of_100(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    unarchived = sum(1 for i in sim.visible_items() if not i.is_archived)
    default = (await pc.get(ITEMS)).json()
    capped = (await pc.get(ITEMS, params={"page_size": 500})).json()
    second = (await pc.get(ITEMS, params={"page_size": 30, "page_index": 1})).json()
    assert (len(default["values"]), default["page_size"], default["total"]) == (30, 30, unarchived)
    assert (len(capped["values"]), capped["page_size"]) == (100, 100)
    assert second["page_index"] == 1
    assert second["values"][0]["id"] == capped["values"][30]["id"]


async def test_items_carry_epoch_seconds_and_the_documented_fields(pc: httpx.AsyncClient) -> None:
    values = (await pc.get(ITEMS, params={"page_size": 100})).json()["values"]
    for value in values:
        assert {
            "state",
            "start_at",
            "end_at",
            "completed_at",
            "updated_at",
            "is_deleted",
            "is_archived",
            "version",
            "sprint",
            "phase",
            "properties",
        } <= set(value)
        assert set(value["state"]) == {"id", "name", "type", "color"}
        assert value["state"]["type"] in {"pending", "in_progress", "completed", "closed"}
        assert 1_000_000_000 <= value["updated_at"] < 10_000_000_000
        assert value["updated_at"] >= value["created_at"]
    assert {v["is_deleted"] for v in values} == {0}


async def test_a_waterfall_project_has_milestone_items_and_versions(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    qt = sim.project("QT")
    milestones = await all_items(pc, project_ids=qt.id, type_ids="milestone")
    versions = (await pc.get(f"/v1/project/projects/{qt.id}/versions")).json()["values"]
    assert [m["title"] for m in milestones][:2] == [
        "需求冻结 Requirements freeze",
        "设计评审通过 Design sign-off",
    ]
    assert {m["type"] for m in milestones} == {"milestone"}
    assert {v["status"] for v in versions} == {"published", "in_progress", "pending"}


async def test_filters_by_project_type_state_and_identifier(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    cpq = sim.project("CPQ")
    bugs = await all_items(pc, project_ids=cpq.id, type_ids="bug,task")
    assert bugs
    assert {(b["project"]["identifier"], b["type"]) for b in bugs} <= {
        ("CPQ", "bug"),
        ("CPQ", "task"),
    }
    one = (await pc.get(ITEMS, params={"identifier": "CPQ-2"})).json()["values"]
    assert [v["identifier"] for v in one] == ["CPQ-2"]
    state_id = one[0]["state"]["id"]
    same_state = await all_items(pc, state_ids=state_id)
    assert {v["state"]["id"] for v in same_state} == {state_id}


async def test_more_than_twenty_project_ids_are_refused(pc: httpx.AsyncClient) -> None:
    answer = await pc.get(ITEMS, params={"project_ids": ",".join(f"p{n}" for n in range(21))})
    assert answer.status_code == 400
    assert answer.json()["code"] == "100000"


async def test_updated_between_takes_open_bounds(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    everything = await all_items(pc)
    middle = sorted(v["updated_at"] for v in everything)[len(everything) // 2]
    after = await all_items(pc, updated_between=f"{middle},")
    before = await all_items(pc, updated_between=f",{middle}")
    alone = await all_items(pc, updated_between=str(middle))
    assert all(v["updated_at"] >= middle for v in after)
    assert all(v["updated_at"] <= middle for v in before)
    assert alone == after
    assert len(after) + len(before) >= len(everything)
    bad = await pc.get(ITEMS, params={"updated_between": "yesterday,"})
    assert bad.status_code == 400


# -- mutations -------------------------------------------------------------------------------


async def test_an_update_moves_updated_at_to_the_simulators_clock(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    target = next(i for i in sim.work_item_ids() if sim.items[i].state.type == "pending")
    sim.advance(3600)
    sim.update_item(target, title="报价单 PDF 模板 v2", state="已完成")
    now = int(sim.clock().timestamp())
    changed = await all_items(pc, updated_between=f"{now},")
    assert [(v["id"], v["title"], v["state"]["type"]) for v in changed] == [
        (target, "报价单 PDF 模板 v2", "completed")
    ]
    assert changed[0]["completed_at"] == now


async def test_a_soft_delete_is_only_visible_with_include_deleted(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    victim = sim.work_item_ids()[0]
    sim.advance(60)
    sim.delete_item(victim)

    live = {v["id"] for v in await all_items(pc)}
    with_deleted = {v["id"]: v for v in await all_items(pc, include_deleted="true")}
    single = await pc.get(f"{ITEMS}/{victim}")

    assert victim not in live
    assert with_deleted[victim]["is_deleted"] == 1
    assert with_deleted[victim]["updated_at"] == int(sim.clock().timestamp())
    assert single.status_code == 404
    assert victim not in sim.work_item_ids()


async def test_a_soft_delete_can_leave_updated_at_alone(pc: httpx.AsyncClient) -> None:
    quiet = PingCodeSimulator(items=20, delete_touches_updated_at=False, deleted_single="flagged")
    victim = quiet.work_item_ids()[0]
    before = quiet.items[victim].updated_at
    quiet.advance(60)
    quiet.delete_item(victim)
    assert quiet.items[victim].updated_at == before
    transport = httpx.ASGITransport(app=quiet.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pc.test") as client:
        token = (await token_for(client)).json()["access_token"]
        single = await client.get(f"{ITEMS}/{victim}", headers={"Authorization": f"Bearer {token}"})
    assert single.status_code == 201
    assert single.json()["is_deleted"] == 1


async def test_archived_items_need_include_archived(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    target = sim.work_item_ids()[5]
    sim.archive_item(target)
    assert target not in {v["id"] for v in await all_items(pc)}
    archived = {v["id"]: v for v in await all_items(pc, include_archived="true")}
    assert archived[target]["is_archived"] == 1


async def test_added_items_get_the_next_identifier(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    next_number = sim.project("DSC").next_number
    new_id = sim.add_item("DSC", title="Approve 30% discount for 华南 distributor")
    single = await pc.get(f"{ITEMS}/{new_id}")
    assert single.status_code == 201
    assert single.json()["identifier"] == f"DSC-{next_number}"


async def test_a_hidden_project_vanishes_everywhere(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    dsc = sim.project("DSC")
    sim.hide_project("DSC")
    projects = (await pc.get("/v1/project/projects")).json()["values"]
    items = await all_items(pc, project_ids=dsc.id)
    versions = await pc.get(f"/v1/project/projects/{dsc.id}/versions")
    assert "DSC" not in {p["identifier"] for p in projects}
    assert items == []
    assert versions.status_code == 404
    assert all(sim.items[i].project_id != dsc.id for i in sim.work_item_ids())


async def test_publishing_a_version_filters_by_status(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    qt = sim.project("QT")
    pending = next(
        v for v in sim.versions.values() if v.project_id == qt.id and v.status == "pending"
    )
    sim.publish_version(pending.id)
    published = (
        await pc.get(f"/v1/project/projects/{qt.id}/versions", params={"status": "published"})
    ).json()["values"]
    assert pending.id in {v["id"] for v in published}


# -- failures -------------------------------------------------------------------------------------


async def test_a_queued_429_carries_x_pc_retry_after_and_code_100038(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    sim.fail_next(429, retry_after="7")
    limited = await pc.get(ITEMS)
    retried = await pc.get(ITEMS)
    assert limited.status_code == 429
    assert limited.headers["x-pc-retry-after"] == "7"
    assert limited.json() == {"code": "100038", "message": "请求频率过高"}
    assert retried.status_code == 200


async def test_a_per_identity_budget_answers_429_until_the_window_passes() -> None:
    sim = PingCodeSimulator(
        items=5, rate_limit=(3, 60.0), retry_after_header="X-RateLimit-Retry-After"
    )
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pc.test") as client:
        token = (await token_for(client)).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        statuses = [(await client.get(ITEMS)).status_code for _ in range(4)]
        limited = await client.get(ITEMS)
        sim.advance(60)
        after = await client.get(ITEMS)
    assert statuses == [200, 200, 200, 429]
    assert limited.headers["X-RateLimit-Retry-After"] == "60"
    assert after.status_code == 200


async def test_failures_target_a_path_and_repeat(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    sim.fail_next(503, count=2, path_contains="/work_items", body="<html>bad gateway</html>")
    unaffected = await pc.get("/v1/project/projects")
    first, second, third = [await pc.get(ITEMS) for _ in range(3)]
    assert unaffected.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.text == "<html>bad gateway</html>"


async def test_a_corrupt_page_has_a_string_state_once(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    sim.corrupt_next_page()
    corrupt = (await pc.get(ITEMS)).json()["values"][0]
    clean = (await pc.get(ITEMS)).json()["values"][0]
    assert isinstance(corrupt["state"], str)
    assert isinstance(clean["state"], dict)


async def test_requests_are_counted_and_logged(
    pc: httpx.AsyncClient, sim: PingCodeSimulator
) -> None:
    await pc.get(ITEMS, params={"include_deleted": "true"})
    assert sim.request_count == 2  # the token and the list
    assert sim.token_requests == 1
    assert sim.request_log[-1].param("include_deleted") == "true"


# -- deliveries and data ---------------------------------------------------------------------


def test_a_delivery_follows_the_default_flow_template(sim: PingCodeSimulator) -> None:
    target = sim.work_item_ids()[0]
    token = sim.delivery(target, secret="flow-secret")
    signed = sim.delivery(target, secret="flow-secret", mode="hmac-sha256")
    assert token.headers["X-Pmbridge-Token"] == "flow-secret"
    assert signed.headers["X-Pmbridge-Signature"].startswith("sha256=")
    assert b'"work_item": {"id": "' + target.encode() in token.body


def test_the_handle_serves_the_contract() -> None:
    handle = PingCodeHandle(items=30)
    assert len(handle.work_item_ids()) == 30
    target = handle.work_item_ids()[0]
    handle.touch_item(target, title="renamed")
    assert handle.vendor.items[target].title == "renamed"
    handle.delete_item(target)
    assert target not in handle.work_item_ids()


async def test_the_same_seed_gives_the_same_enterprise() -> None:
    async def first_page(seed: int) -> bytes:
        sim = PingCodeSimulator(items=60, seed=seed)
        transport = httpx.ASGITransport(app=sim.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pc.test") as client:
            token = (await token_for(client)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            return (await client.get(ITEMS, params={"page_size": 100}, headers=headers)).content

    assert await first_page(7) == await first_page(7)
    assert await first_page(7) != await first_page(8)


def test_generated_items_look_like_a_release_plan() -> None:
    sim = PingCodeSimulator(items=600)
    items = list(sim.items.values())
    titles = " ".join(i.title for i in items)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in titles)  # Chinese ...
    assert "quotes" in titles or "Quote" in titles  # ... and English
    assert {i.state.type for i in items} == {"pending", "in_progress", "completed", "closed"}
    assert all((i.completed_at is not None) <= (i.state.type == "completed") for i in items)
    assert len(sim.milestone_item_ids()) == 5
    assert {i.type for i in items} >= {"task", "story", "bug", "milestone"}
    assert any(i.is_archived for i in items)


def test_fifty_thousand_items_generate_in_a_couple_of_seconds() -> None:
    started = time.perf_counter()
    sim = PingCodeSimulator(items=50_000)
    elapsed = time.perf_counter() - started
    assert len(sim.work_item_ids()) == 50_000
    assert elapsed < 3.0


def test_serve_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(host="0.0.0.0")  # noqa: S104 - the address under test
