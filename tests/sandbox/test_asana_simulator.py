"""The Asana simulator behaves like Asana's REST API 1.0 where the sync client can tell.

Each test reads as one line of the specification; all run in-process over httpx's ASGI
transport against a small seeded workspace.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from sandbox.asana import DEMO_TOKEN, AsanaHandle, AsanaSimulator, serve
from sandbox.asana_data import SECTION_NAMES

TASKS = "name,resource_subtype,completed,modified_at,memberships.section.name,num_subtasks,parent"


@pytest.fixture
def sim() -> AsanaSimulator:
    return AsanaSimulator(items=120, seed=7)


@pytest.fixture
async def asana(sim: AsanaSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://asana.test/api/1.0",
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
    ) as client:
        yield client


def crm(sim: AsanaSimulator) -> str:
    return sim.project_named("CRM Migration").gid


async def all_pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset: str | None = None
    while True:
        extra = {"offset": offset} if offset else {}
        response = await client.get(path, params={"limit": 100, **params, **extra})
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["data"])
        if body["next_page"] is None:
            return items
        offset = body["next_page"]["offset"]


# -- auth, routing, envelopes ------------------------------------------------------------------


async def test_a_missing_or_wrong_token_gets_401_with_the_errors_envelope(
    sim: AsanaSimulator,
) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://asana.test") as anonymous:
        missing = await anonymous.get("/users/me")
        wrong = await anonymous.get("/users/me", headers={"Authorization": "Bearer nope"})
        basic = await anonymous.get("/users/me", auth=("demo", DEMO_TOKEN))
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.json()["errors"][0]["message"] == "Not Authorized"


async def test_paths_answer_with_and_without_the_api_prefix(sim: AsanaSimulator) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, headers=headers) as client:
        prefixed = await client.get("http://asana.test/api/1.0/users/me")
        bare = await client.get("http://asana.test/users/me")
        unknown = await client.get("http://asana.test/api/1.0/no-such-thing")
    assert prefixed.json() == bare.json()
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["message"]


async def test_responses_carry_the_simulated_date(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    response = await asana.get("/users/me")
    assert response.headers["Date"] == "Fri, 20 Nov 2026 09:00:00 GMT"


async def test_me_is_the_token_owner_with_the_workspace(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    compact = (await asana.get("/users/me")).json()["data"]
    full = (
        await asana.get("/users/me", params={"opt_fields": "name,email,workspaces.name"})
    ).json()["data"]
    assert compact == {"gid": sim.me.gid, "resource_type": "user", "name": sim.me.name}
    assert full["email"] == "demo@example.com"
    assert full["workspaces"] == [{"gid": sim.workspace_gid, "name": "Northwind Revenue"}]


async def test_users_are_found_by_gid_or_email_with_their_email_on_request(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    someone = next(u for u in sim.users.values() if u is not sim.me)
    by_gid = await asana.get(f"/users/{someone.gid}", params={"opt_fields": "email"})
    by_email = await asana.get(f"/users/{someone.email}")
    assert by_gid.json()["data"] == {"gid": someone.gid, "email": someone.email}
    assert by_email.json()["data"]["gid"] == someone.gid
    assert (await asana.get("/users/42")).status_code == 404


async def test_opt_fields_outside_the_specs_enum_are_refused(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    response = await asana.get(
        f"/projects/{crm(sim)}/tasks", params={"opt_fields": "name,assignee.email"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "opt_fields: Unknown field: assignee.email"


# -- pagination --------------------------------------------------------------------------------


async def test_pages_carry_next_page_offset_path_and_uri_and_end_with_null(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    path = f"/projects/{crm(sim)}/tasks"
    first = (await asana.get(path, params={"limit": 5})).json()
    next_page = first["next_page"]
    assert len(first["data"]) == 5
    assert next_page["path"].startswith(f"{path}?limit=5&offset=")
    assert next_page["uri"] == "http://asana.test/api/1.0" + next_page["path"]
    second = (await asana.get(path, params={"limit": 5, "offset": next_page["offset"]})).json()
    assert {t["gid"] for t in second["data"]}.isdisjoint(t["gid"] for t in first["data"])
    everything = await all_pages(asana, path)
    assert len(everything) == len(sim.project_task_gids(crm(sim)))


async def test_without_limit_there_is_no_next_page_and_lists_stop_at_1000() -> None:
    sim = AsanaSimulator(items=2600, projects=2, seed=3)
    transport = httpx.ASGITransport(app=sim.app)
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, headers=headers) as client:
        body = (await client.get(f"http://a.test/projects/{crm(sim)}/tasks")).json()
    assert "next_page" not in body
    assert len(body["data"]) == 1000


@pytest.mark.parametrize("limit", ["0", "101", "many"])
async def test_limits_outside_1_to_100_are_refused(
    sim: AsanaSimulator, asana: httpx.AsyncClient, limit: str
) -> None:
    response = await asana.get(f"/projects/{crm(sim)}/tasks", params={"limit": limit})
    assert response.status_code == 400


async def test_an_offset_from_another_request_is_refused(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    first = (await asana.get(f"/projects/{crm(sim)}/tasks", params={"limit": 2})).json()
    offset: str = first["next_page"]["offset"]
    other = sim.project_named("Sales Kickoff 2027").gid
    for token in (offset, "garbage"):
        response = await asana.get(f"/projects/{other}/tasks", params={"limit": 2, "offset": token})
        assert response.status_code == 400
        assert "offset" in response.json()["errors"][0]["message"]


async def test_a_deletion_between_pages_neither_skips_nor_repeats(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    path = f"/projects/{crm(sim)}/tasks"
    first = (await asana.get(path, params={"limit": 10})).json()
    sim.delete_task(first["data"][3]["gid"])
    rest = await all_pages(asana, path, offset=first["next_page"]["offset"])
    seen = [t["gid"] for t in first["data"]] + [t["gid"] for t in rest]
    assert len(seen) == len(set(seen))
    assert set(seen) - {first["data"][3]["gid"]} == set(sim.project_task_gids(crm(sim)))


# -- workspaces and projects -------------------------------------------------------------------


async def test_projects_are_listed_per_workspace_with_archived_filter(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    sko = sim.project_named("Sales Kickoff 2027")
    sim.archive_project(sko.gid)
    listed = await all_pages(
        asana, "/projects", workspace=sim.workspace_gid, opt_fields="name,archived"
    )
    same = await all_pages(asana, f"/workspaces/{sim.workspace_gid}/projects")
    live = await all_pages(asana, "/projects", workspace=sim.workspace_gid, archived="false")
    assert [p["name"] for p in listed] == [
        "CRM Migration",
        "Sales Kickoff 2027",
        "Quote-to-Cash Revamp",
    ]
    assert [p["gid"] for p in same] == [p["gid"] for p in listed]
    assert [p["archived"] for p in listed] == [False, True, False]
    assert sko.gid not in {p["gid"] for p in live}
    workspaces = (await asana.get("/workspaces")).json()["data"]
    assert workspaces == [
        {"gid": sim.workspace_gid, "resource_type": "workspace", "name": "Northwind Revenue"}
    ]


async def test_every_project_has_the_four_board_sections(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    sections = (await asana.get(f"/projects/{crm(sim)}/sections")).json()["data"]
    assert [s["name"] for s in sections] == list(SECTION_NAMES)
    assert {s["resource_type"] for s in sections} == {"section"}


async def test_a_hidden_project_is_forbidden_and_unlisted_and_so_are_its_tasks(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    project = crm(sim)
    only_there = next(
        g for g in sim.project_task_gids(project) if len(sim.tasks[g].memberships) == 1
    )
    sim.hide_project(project)
    assert (await asana.get(f"/projects/{project}")).status_code == 403
    assert (await asana.get(f"/projects/{project}/tasks")).status_code == 403
    assert (await asana.get(f"/tasks/{only_there}")).status_code == 403
    listed = await all_pages(asana, "/projects", workspace=sim.workspace_gid)
    assert project not in {p["gid"] for p in listed}
    assert (await asana.get("/projects/1")).status_code == 404


# -- tasks -------------------------------------------------------------------------------------


async def test_compact_tasks_are_gid_name_and_subtype(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    body = (await asana.get(f"/projects/{crm(sim)}/tasks", params={"limit": 1})).json()
    assert set(body["data"][0]) == {"gid", "resource_type", "name", "resource_subtype"}


async def test_tasks_carry_sections_milestones_custom_fields_and_subtask_counts(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    fields = TASKS + ",custom_fields.name,custom_fields.number_value,assignee.name,tags.name"
    tasks = await all_pages(asana, f"/projects/{crm(sim)}/tasks", opt_fields=fields)
    sections = {m["section"]["name"] for t in tasks for m in t["memberships"] if "section" in m}
    assert sections <= set(SECTION_NAMES)
    assert any(t["resource_subtype"] == "milestone" for t in tasks)
    points = [
        cf["number_value"]
        for t in tasks
        for cf in t["custom_fields"]
        if cf["name"] == "Story points" and cf["number_value"] is not None
    ]
    assert points
    assert set(points) <= {1, 2, 3, 5, 8, 13}
    parents = [t for t in tasks if t["num_subtasks"] > 0]
    assert parents
    # Subtasks belong to no project: they are not in its task list.
    assert all(t["parent"] is None for t in tasks)
    assert any(t["assignee"] is not None and t["assignee"]["name"] for t in tasks)
    children = (
        await asana.get(f"/tasks/{parents[0]['gid']}/subtasks", params={"opt_fields": TASKS})
    ).json()["data"]
    assert len(children) == parents[0]["num_subtasks"]
    assert {c["parent"]["gid"] for c in children} == {parents[0]["gid"]}
    assert all(c["memberships"] == [] for c in children)


async def test_tasks_need_a_project_tag_section_or_assignee_with_workspace(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    assert (await asana.get("/tasks")).status_code == 400
    assert (await asana.get("/tasks", params={"workspace": sim.workspace_gid})).status_code == 400
    mine = await asana.get("/tasks", params={"assignee": "me", "workspace": sim.workspace_gid})
    assert mine.status_code == 200
    by_project = await all_pages(asana, "/tasks", project=crm(sim))
    assert len(by_project) == len(sim.project_task_gids(crm(sim)))


async def test_modified_since_sees_edits_and_moves_though_a_move_keeps_modified_at(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    project = crm(sim)
    edited, moved = [g for g in sim.project_task_gids(project) if sim.tasks[g].parent is None][:2]
    before_move = sim.tasks[moved].modified_ms
    sim.advance(86_400)
    since = "2026-11-21T08:59:00Z"
    assert await all_pages(asana, "/tasks", project=project, modified_since=since) == []

    sim.update_task(edited, name="Renamed by the test", completed=True)
    sim.move_task(moved, "Review")
    changed = await all_pages(
        asana, "/tasks", project=project, modified_since=since, opt_fields=TASKS
    )

    by_gid = {t["gid"]: t for t in changed}
    assert set(by_gid) == {edited, moved}
    assert by_gid[edited]["name"] == "Renamed by the test"
    assert by_gid[edited]["modified_at"] == "2026-11-21T09:00:00.000Z"
    assert by_gid[moved]["memberships"][0]["section"]["name"] == "Review"
    assert sim.tasks[moved].modified_ms == before_move


async def test_completed_since_now_keeps_only_open_tasks(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    open_tasks = await all_pages(
        asana, f"/projects/{crm(sim)}/tasks", completed_since="now", opt_fields="completed"
    )
    assert open_tasks
    assert not any(t["completed"] for t in open_tasks)


async def test_a_subtask_change_does_not_touch_its_parent(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    parent = next(t for t in sim.tasks.values() if t.subtasks and t.memberships)
    project = parent.memberships[0][0]
    sim.advance(3600)
    sim.update_task(parent.subtasks[0], name="Only the subtask changed")
    new = sim.add_subtask(parent.gid, name="A new subtask")
    changed = await all_pages(
        asana, "/tasks", project=project, modified_since="2026-11-20T09:30:00Z"
    )
    assert changed == []
    children = await all_pages(asana, f"/tasks/{parent.gid}/subtasks", opt_fields="name")
    assert {"Only the subtask changed", "A new subtask"} <= {c["name"] for c in children}
    assert new in {c["gid"] for c in children}


async def test_deleting_a_task_deletes_its_subtasks(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    parent = next(t for t in sim.tasks.values() if t.subtasks and t.memberships)
    children = list(parent.subtasks)
    sim.delete_task(parent.gid)
    for gid in (parent.gid, *children):
        response = await asana.get(f"/tasks/{gid}")
        assert response.status_code == 404
        assert response.json()["errors"][0]["message"] == f"task: Unknown object: {gid}"


async def test_added_tasks_and_milestones_join_the_bottom_of_their_section(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    project = crm(sim)
    gid = sim.add_task(project, name="Freeze legacy CRM", section="In progress", story_points=3)
    milestone = sim.add_task(project, name="Go-live", milestone=True, due_on=date(2027, 1, 4))
    listed = await all_pages(asana, f"/projects/{project}/tasks", opt_fields=TASKS + ",due_on")
    assert [t["gid"] for t in listed[-2:]] == [gid, milestone]
    assert listed[-2]["memberships"][0]["section"]["name"] == "In progress"
    assert (listed[-1]["resource_subtype"], listed[-1]["due_on"]) == ("milestone", "2027-01-04")


async def test_a_corrupted_page_carries_an_invalid_modified_at_once(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    sim.corrupt_next_task_page()
    path = f"/projects/{crm(sim)}/tasks"
    params: dict[str, str | int] = {"limit": 3, "opt_fields": "modified_at"}
    broken = (await asana.get(path, params=params)).json()["data"][0]
    healed = (await asana.get(path, params=params)).json()["data"][0]
    assert broken["modified_at"] == "yesterday afternoon"
    assert healed["modified_at"].endswith("Z")


# -- failures ----------------------------------------------------------------------------------


async def test_fail_next_429_carries_retry_after_and_the_documented_message(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    sim.fail_next(429, count=2, retry_after="30", path_contains="/tasks")
    unaffected = await asana.get("/users/me")
    first = await asana.get(f"/projects/{crm(sim)}/tasks")
    second = await asana.get(f"/projects/{crm(sim)}/tasks")
    third = await asana.get(f"/projects/{crm(sim)}/tasks")
    assert unaffected.status_code == 200
    assert [r.status_code for r in (first, second, third)] == [429, 429, 200]
    assert first.headers["Retry-After"] == "30"
    assert first.json()["errors"][0]["message"].startswith("You've made too many requests")
    assert sim.request_count == 4


async def test_fail_next_can_send_a_proxys_text_page(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    sim.fail_next(502, body="<html>Bad Gateway</html>")
    response = await asana.get("/users/me")
    assert (response.status_code, response.text) == (502, "<html>Bad Gateway</html>")


# -- events and webhooks -----------------------------------------------------------------------


async def test_events_start_with_412_and_a_sync_token_then_list_mutations(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    project = crm(sim)
    first = await asana.get("/events", params={"resource": project})
    assert first.status_code == 412
    token = first.json()["sync"]
    assert first.json()["errors"][0]["message"].startswith("Sync token invalid or too old")

    task = next(g for g in sim.project_task_gids(project) if sim.tasks[g].parent is None)
    sim.update_task(task, name="Changed")
    sim.delete_task(task)
    body = (await asana.get("/events", params={"resource": project, "sync": token})).json()

    assert [(e["resource"]["gid"], e["action"]) for e in body["data"]][-2:] == [
        (task, "changed"),
        (task, "deleted"),
    ]
    assert body["has_more"] is False
    again = (await asana.get("/events", params={"resource": project, "sync": body["sync"]})).json()
    assert again["data"] == []


async def test_more_than_100_events_page_with_has_more(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    project = crm(sim)
    token = (await asana.get("/events", params={"resource": project})).json()["sync"]
    task = sim.project_task_gids(project)[-1]
    for n in range(130):
        sim.update_task(task, name=f"Rename {n}")
    first = (await asana.get("/events", params={"resource": project, "sync": token})).json()
    second = (
        await asana.get("/events", params={"resource": project, "sync": first["sync"]})
    ).json()
    assert (len(first["data"]), first["has_more"]) == (100, True)
    assert (len(second["data"]), second["has_more"]) == (30, False)


async def test_a_sync_token_older_than_a_day_asks_for_a_recrawl(
    sim: AsanaSimulator, asana: httpx.AsyncClient
) -> None:
    token = (await asana.get("/events", params={"resource": crm(sim)})).json()["sync"]
    sim.advance(25 * 3600)
    expired = await asana.get("/events", params={"resource": crm(sim), "sync": token})
    assert expired.status_code == 412
    assert expired.json()["sync"] != token


def test_webhook_deliveries_are_signed_with_hex_hmac_sha256(sim: AsanaSimulator) -> None:
    gid = sim.work_item_gids()[0]
    delivery = sim.webhook_delivery([sim.task_event(gid)], secret="s3cret")
    expected = hmac.new(b"s3cret", delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Hook-Signature"] == expected
    event = json.loads(delivery.body)["events"][0]
    assert event["resource"] == {"gid": gid, "resource_type": "task"}
    assert AsanaSimulator.handshake("abc").headers == {"X-Hook-Secret": "abc"}
    assert json.loads(sim.heartbeat(secret="s3cret").body) == {"events": []}


def test_mutations_are_recorded_as_events(sim: AsanaSimulator) -> None:
    project = crm(sim)
    gid = sim.add_task(project, name="New")
    sim.move_task(gid, "Done")
    sim.archive_project(project)
    actions = [(e["resource"]["resource_type"], e["action"]) for e in sim.events]
    assert actions == [("task", "added"), ("task", "added"), ("project", "changed")]
    assert sim.events[1]["parent"]["resource_type"] == "section"


# -- data --------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_workspace() -> None:
    first, second = AsanaSimulator(items=80, seed=11), AsanaSimulator(items=80, seed=11)
    other = AsanaSimulator(items=80, seed=12)
    assert first.work_item_gids() == second.work_item_gids()
    assert [t.name for t in first.tasks.values()] == [t.name for t in second.tasks.values()]
    assert [t.name for t in first.tasks.values()] != [t.name for t in other.tasks.values()]


def test_items_counts_work_items_and_milestones_come_on_top(sim: AsanaSimulator) -> None:
    assert len(sim.work_item_gids()) == 120
    assert 6 <= len(sim.milestone_gids()) <= 9
    names = {p.name for p in sim.projects.values()}
    assert {"CRM Migration", "Sales Kickoff 2027"} <= names


def test_fifty_thousand_items_are_generated_in_a_couple_of_seconds() -> None:
    started = time.perf_counter()
    big = AsanaSimulator(items=50_000)
    elapsed = time.perf_counter() - started
    assert len(big.work_item_gids()) == 50_000
    assert elapsed < 5.0


def test_the_handle_offers_the_contract(sim: AsanaSimulator) -> None:
    handle = AsanaHandle(items=40)
    assert handle.credentials == {"access_token": DEMO_TOKEN}
    assert handle.options == {"workspace": handle.vendor.workspace_gid}
    target = handle.work_item_ids()[0]
    handle.touch_item(target, title="Touched")
    assert handle.vendor.tasks[target].name == "Touched"
    handle.delete_item(target)
    assert target not in handle.work_item_ids()


def test_serve_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(host="0.0.0.0")  # noqa: S104 - the address under test
