"""The Worktile simulator behaves as WORKTILE.md documents the Open API, where a sync client
can tell. Each test reads as one line of that specification; all run in-process over httpx's
ASGI transport against a small seeded tenant."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from sandbox.contract import Simulator
from sandbox.worktile import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    WorktileHandle,
    WorktileSimulator,
    serve,
)

API = "/open-api"
TASKS = f"{API}/mission/get-project-tasks-by-page"
CREDENTIALS = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}


@pytest.fixture
def sim() -> WorktileSimulator:
    return WorktileSimulator(items=120, seed=7)


@pytest.fixture
async def http(sim: WorktileSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wt.test") as client:
        yield client


async def token(http: httpx.AsyncClient) -> str:
    answer = await http.post(f"{API}/tenant-access-token", json=CREDENTIALS)
    value: str = answer.json()["tenant_access_token"]
    return value


async def get(http: httpx.AsyncClient, path: str, **params: Any) -> httpx.Response:
    if "access_token" not in params:
        params["access_token"] = await token(http)
    return await http.get(f"{API}{path}", params=params)


def first_project(sim: WorktileSimulator) -> str:
    return next(iter(sim.projects))


async def all_tasks(http: httpx.AsyncClient, project_id: str, size: int = 50) -> list[Any]:
    access = await token(http)
    items: list[Any] = []
    index = 0
    while True:
        body = (
            await get(
                http,
                "/mission/get-project-tasks-by-page",
                project_id=project_id,
                page_index=index,
                page_size=size,
                access_token=access,
            )
        ).json()
        items.extend(body["items"])
        if not body["has_more"]:
            return items
        index += 1


# -- auth ------------------------------------------------------------------------------------


async def test_the_tenant_token_comes_from_client_id_and_secret(http: httpx.AsyncClient) -> None:
    answer = await http.post(f"{API}/tenant-access-token", json=CREDENTIALS)
    slash = await http.post(f"{API}/tenant-access-token/", json=CREDENTIALS)  # C1's form

    assert answer.status_code == slash.status_code == 200
    body = answer.json()
    assert set(body) == {"tenant_access_token", "expires_in"}
    assert body["expires_in"] == 7200
    assert body["tenant_access_token"] != slash.json()["tenant_access_token"]


async def test_a_wrong_secret_gets_ok_false_in_an_http_200(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        f"{API}/tenant-access-token", json={**CREDENTIALS, "client_secret": "nope"}
    )
    assert answer.status_code == 200
    assert answer.json()["ok"] is False
    assert "tenant_access_token" not in answer.json()


async def test_the_access_token_query_parameter_is_required(http: httpx.AsyncClient) -> None:
    access = await token(http)
    bearer_only = await http.get(
        f"{API}/mission/get-projects-by-page", headers={"Authorization": f"Bearer {access}"}
    )
    unknown = await get(http, "/mission/get-projects-by-page", access_token="0" * 40)

    assert bearer_only.status_code == 200
    assert bearer_only.json() == {
        "ok": False,
        "error_code": 1102,
        "error": "access_token is malformed",
    }
    assert unknown.status_code == 200
    assert unknown.json() == {"ok": False, "error_code": 1103, "error": "invalid access token"}


async def test_tokens_expire_on_the_simulators_clock_as_an_http_200(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    access = await token(http)
    sim.advance(7199)
    fresh = await get(http, "/mission/get-projects-by-page", access_token=access)
    sim.advance(1)
    stale = await get(http, "/mission/get-projects-by-page", access_token=access)

    assert "items" in fresh.json()
    assert (stale.status_code, stale.json()["error_code"]) == (200, 1103)


async def test_expiring_tokens_on_demand_in_either_form(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    access = await token(http)
    sim.expire_tokens()
    as_200 = await get(http, "/mission/get-projects-by-page", access_token=access)
    sim.expire_tokens(status=401)
    as_401 = await get(http, "/mission/get-projects-by-page", access_token=access)
    renewed = await get(http, "/mission/get-projects-by-page")

    assert (as_200.status_code, as_200.json()["error_code"]) == (200, 1103)
    assert (as_401.status_code, as_401.json()["error_code"]) == (401, 1103)
    assert renewed.status_code == 200
    assert sim.token_requests == 2


# -- projects, members, pages ---------------------------------------------------------------


async def test_projects_page_with_items_total_and_has_more(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    first = (await get(http, "/mission/get-projects-by-page", page_index=0, page_size=2)).json()
    last = (await get(http, "/mission/get-projects-by-page", page_index=1, page_size=2)).json()

    assert (first["total"], first["has_more"], len(first["items"])) == (3, True, 2)
    assert (last["has_more"], len(last["items"])) == (False, 1)
    project = first["items"][0]
    assert re.fullmatch(r"[0-9a-f]{24}", project["_id"])
    assert (project["name"], project["identifier"]) == ("2027 销售赋能培训计划", "ENB")


async def test_the_item_key_can_be_value_instead() -> None:
    sim = WorktileSimulator(items=5, items_key="value")
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wt.test") as http:
        body = (await get(http, "/mission/get-projects-by-page")).json()
    assert "value" in body
    assert "items" not in body


async def test_members_carry_uid_name_and_display_name(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    body = (await get(http, "/contact/get-members-by-page", page_size=100)).json()
    assert body["total"] == len(sim.members)
    member = body["items"][0]
    assert re.fullmatch(r"[0-9a-f]{32}", member["uid"])
    assert {"uid", "name", "display_name"} <= member.keys()


async def test_task_pages_are_zero_based_and_end_with_has_more_false(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    project = first_project(sim)
    listed = await all_tasks(http, project, size=7)
    past_end = await get(
        http, "/mission/get-project-tasks-by-page", project_id=project, page_index=99
    )

    ids = [t["_id"] for t in listed]
    assert (
        len(ids) == len(set(ids)) == sum(1 for t in sim.tasks.values() if t.project_id == project)
    )
    assert ids == sorted(ids)  # creation (_id) order
    assert past_end.json()["items"] == []
    assert past_end.json()["has_more"] is False


async def test_page_size_is_capped_silently() -> None:
    sim = WorktileSimulator(items=60, projects=1, max_page_size=25)
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wt.test") as http:
        body = (
            await get(
                http,
                "/mission/get-project-tasks-by-page",
                project_id=first_project(sim),
                page_size=100,
            )
        ).json()
    assert len(body["items"]) == 25
    assert body["has_more"] is True


async def test_tasks_carry_epoch_seconds_date_objects_and_integer_state_types(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    tasks = await all_tasks(http, first_project(sim), size=100)
    now = int(sim.clock().timestamp())

    for task in tasks:
        assert 1_700_000_000 < task["created_at"] <= task["updated_at"] <= now
        assert task["state_type"] == task["task_state"]["type"] in (1, 2, 3)
        assert (task["completed_at"] > 0) == (task["state_type"] == 3)
        assert task["is_archived"] in (0, 1)
        assert "desc" not in task["properties"]  # list pages never carry it (§5)
        due = task["properties"]["due"]
        assert due is None or (set(due) == {"date", "with_time"} and isinstance(due["date"], int))
    assert {t["task_type"]["name"] for t in tasks} >= {"里程碑", "任务"}
    assert any(t.state.name in ("关闭", "Closed") for t in sim.tasks.values())


async def test_get_tasks_by_ids_is_a_bare_array_shaped_by_fields(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    listed = await all_tasks(http, first_project(sim), size=100)
    wanted = [listed[0]["_id"], "0" * 24, listed[1]["_id"]]
    plain = (
        await get(
            http,
            "/mission/get-tasks-by-ids",
            task_ids=",".join(wanted),
            fields="assignee,participant,start,due,tag,priority",
        )
    ).json()
    default = (await get(http, "/mission/get-tasks-by-ids", task_ids=wanted[0])).json()

    assert isinstance(plain, list)
    assert plain == [listed[0], listed[1]]  # the same JSON as the list page
    assert {"desc", "attachment"} <= default[0]["properties"].keys()


# -- failures ----------------------------------------------------------------------------------


async def test_a_queued_429_is_nginxs_html_page(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    sim.fail_next(429)
    limited = await http.get(f"{API}/mission/get-projects-by-page")

    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/html")
    assert "<center>nginx</center>" in limited.text
    assert "Retry-After" not in limited.headers
    with pytest.raises(json.JSONDecodeError):
        limited.json()


async def test_failures_can_target_a_path_repeat_and_carry_retry_after(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    sim.fail_next(503, count=2, path_contains="get-project-tasks", retry_after="3")
    unaffected = await get(http, "/mission/get-projects-by-page")
    project = first_project(sim)
    answers = [await get(http, "/mission/get-project-tasks-by-page", project_id=project)]
    answers += [await get(http, "/mission/get-project-tasks-by-page", project_id=project)]
    answers += [await get(http, "/mission/get-project-tasks-by-page", project_id=project)]

    assert unaffected.status_code == 200
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert "503 Service Temporarily Unavailable" in answers[0].text


async def test_a_corrupt_page_and_a_repeated_page_each_happen_once(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    project = first_project(sim)
    sim.corrupt_next_page()
    corrupt = (await get(http, "/mission/get-project-tasks-by-page", project_id=project)).json()
    clean = (await get(http, "/mission/get-project-tasks-by-page", project_id=project)).json()
    sim.repeat_next_page()
    page = {"project_id": project, "page_size": 5}
    zero = (await get(http, "/mission/get-project-tasks-by-page", page_index=0, **page)).json()
    again = (await get(http, "/mission/get-project-tasks-by-page", page_index=1, **page)).json()
    one = (await get(http, "/mission/get-project-tasks-by-page", page_index=1, **page)).json()

    assert isinstance(corrupt["items"][0]["updated_at"], str)
    assert isinstance(clean["items"][0]["updated_at"], int)
    assert again == zero
    assert one != zero


# -- mutations ---------------------------------------------------------------------------------


async def test_an_update_moves_updated_at_and_a_terminal_state_sets_completed_at(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    target = next(t for t in sim.tasks.values() if t.state.type == 1)
    project = sim.projects[target.project_id]
    sim.advance(3600)
    done = next(s.name for s in project.states if s.type == 3)
    sim.update_task(target.id, title="Renamed 重命名", state=done, due=date(2026, 12, 24))

    [task] = (await get(http, "/mission/get-tasks-by-ids", task_ids=target.id)).json()
    now = int(sim.clock().timestamp())
    assert (task["title"], task["updated_at"], task["completed_at"]) == ("Renamed 重命名", now, now)
    assert task["properties"]["due"] == {"date": 1798041600, "with_time": 0}  # 24 Dec, Shanghai


async def test_archive_keeps_a_task_listed_and_delete_removes_it(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    project = first_project(sim)
    archived, deleted = [t for t in sim.tasks.values() if t.project_id == project][5:7]
    sim.archive_task(archived.id)
    sim.delete_task(deleted.id)

    listed = {t["_id"]: t for t in await all_tasks(http, project)}
    by_ids = (await get(http, "/mission/get-tasks-by-ids", task_ids=deleted.id)).json()

    assert listed[archived.id]["is_archived"] == 1
    assert deleted.id not in listed
    assert by_ids == []


async def test_added_tasks_come_last_with_the_next_identifier(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    sim.advance(60)
    new_id = sim.add_task("ENB", title="准备 Q1 新人训练营讲义", state="进行中")
    milestone = sim.add_task("ENB", title="Bootcamp 结业", task_type="里程碑")

    listed = await all_tasks(http, sim.project_by_identifier("ENB").id)
    assert [t["_id"] for t in listed[-2:]] == [new_id, milestone]
    assert listed[-2]["identifier"] == f"ENB-{len(listed) - 1}"
    assert milestone in sim.milestone_ids()
    assert new_id in sim.work_item_ids()


async def test_a_hidden_project_vanishes_and_its_tasks_are_unreachable(
    http: httpx.AsyncClient, sim: WorktileSimulator
) -> None:
    hidden = sim.project_by_identifier("BOOT")
    some_task = next(t.id for t in sim.tasks.values() if t.project_id == hidden.id)
    sim.hide_project("BOOT")

    projects = (await get(http, "/mission/get-projects-by-page")).json()["items"]
    tasks = await get(http, "/mission/get-project-tasks-by-page", project_id=hidden.id)
    by_ids = (await get(http, "/mission/get-tasks-by-ids", task_ids=some_task)).json()

    assert hidden.id not in {p["_id"] for p in projects}
    assert tasks.status_code == 404
    assert by_ids == []
    assert some_task not in sim.work_item_ids()


def test_webhook_bodies_are_event_and_payload(sim: WorktileSimulator) -> None:
    task = next(t for t in sim.tasks.values() if t.assignee is not None)
    changed = json.loads(sim.webhook_body(task.id))
    created = json.loads(sim.webhook_body(task.id, kind="created"))

    assert set(changed) == {"event", "payload"}
    assert changed["payload"]["task"]["id"] == task.id
    assert changed["payload"]["to"] == {"id": task.state.id, "name": task.state.name}
    assert set(changed["payload"]["update_by"]) == {"uid", "user_name", "display_name"}
    assert created["payload"]["id"] == task.id
    assert created["payload"]["type"]["name"] == task.task_type.name


# -- data and the handle -------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_tenant() -> None:
    def render(seed: int) -> list[Any]:
        sim = WorktileSimulator(items=60, seed=seed)
        return [sim._render_task(t, ("assignee", "due")) for t in sim.tasks.values()]

    assert render(7) == render(7)
    assert render(7) != render(8)


def test_the_tenant_is_a_bilingual_enablement_programme_with_milestones() -> None:
    sim = WorktileSimulator(items=400)
    names = [p.name for p in sim.projects.values()]
    titles = {t.title for t in sim.tasks.values()}

    assert names == [
        "2027 销售赋能培训计划",
        "New Hire Sales Bootcamp · 新人训练营",
        "渠道伙伴认证 Partner Certification",
    ]
    assert any(re.search(r"[\u4e00-\u9fff]", t) for t in titles)
    assert any(re.fullmatch(r"[ -~]+", t) for t in titles)
    assert {m.display_name for m in sim.members} & {"张伟", "李娜", "王芳", "陈杰", "刘洋"}
    assert len(sim.work_item_ids()) == 400
    for project in sim.projects.values():
        milestones = [
            t for t in sim.tasks.values() if t.project_id == project.id and t.task_type.milestone
        ]
        assert 2 <= len(milestones) <= 4
    assert any(t.is_archived for t in sim.tasks.values())
    assert any(t.parent_id for t in sim.tasks.values())


def test_fifty_thousand_items_generate_in_a_couple_of_seconds() -> None:
    started = time.perf_counter()
    sim = WorktileSimulator(items=50_000)
    assert time.perf_counter() - started < 5.0  # about 0.4 s here; generous for slow CI
    assert len(sim.work_item_ids()) == 50_000


def test_the_handle_is_a_contract_simulator() -> None:
    handle: Simulator = WorktileHandle(items=20)
    target = handle.work_item_ids()[0]
    handle.touch_item(target, title="Touched")
    delivery = handle.delivery(target, secret="k3y", url="https://pmbridge.example.com/hook")

    assert isinstance(handle, WorktileHandle)
    assert handle.vendor.tasks[target].title == "Touched"
    assert handle.options == {}
    assert handle.signs_body is False
    assert delivery.headers["X-Pmbridge-Token"] == "k3y"
    assert json.loads(delivery.body)["payload"]["task"]["id"] == target
    handle.delete_item(target)
    assert target not in handle.work_item_ids()


def test_serve_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(host="0.0.0.0")  # noqa: S104 - the address under test
