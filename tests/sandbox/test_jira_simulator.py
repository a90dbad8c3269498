"""The Jira simulator behaves like Jira Cloud's REST v3 where the sync client can tell.

Each test reads as one line of the specification; all run in-process over httpx's ASGI
transport against a small seeded site.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from sandbox.jira import JiraSimulator, serve
from sandbox.jira_data import STATUSES

API = "/rest/api/3"
AUTH = ("demo@example.com", "demo-token")
ALL_PROJECTS = "project in (CRM, PIPE, ENBL)"


@pytest.fixture
def sim() -> JiraSimulator:
    return JiraSimulator(issues=120, seed=7)


@pytest.fixture
async def jira(sim: JiraSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://jira.test", auth=AUTH
    ) as client:
        yield client


async def search(jira: httpx.AsyncClient, jql: str, **params: Any) -> httpx.Response:
    return await jira.get(f"{API}/search/jql", params={"jql": jql, **params})


async def all_pages(jira: httpx.AsyncClient, jql: str, **params: Any) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        extra = {"nextPageToken": token} if token else {}
        page = (await search(jira, jql, **params, **extra)).json()
        issues.extend(page["issues"])
        if page["isLast"]:
            assert "nextPageToken" not in page
            return issues
        token = page["nextPageToken"]


# -- auth and routing -------------------------------------------------------------------------


async def test_missing_or_wrong_credentials_get_401_with_jira_error_envelope(
    sim: JiraSimulator,
) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jira.test") as anonymous:
        missing = await anonymous.get(f"{API}/myself")
        wrong = await anonymous.get(f"{API}/myself", auth=("demo@example.com", "nope"))

    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json() == {
            "errorMessages": ["Client must be authenticated to access this resource."],
            "errors": {},
        }


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"demo@example.com:demo-token").decode(),
        "Bearer demo-token",
    ],
)
async def test_basic_email_token_and_bearer_token_are_accepted(
    sim: JiraSimulator, authorization: str
) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    headers = {"Authorization": authorization}
    async with httpx.AsyncClient(transport=transport, base_url="http://jira.test") as client:
        response = await client.get(f"{API}/myself", headers=headers)

    assert response.status_code == 200


async def test_unknown_paths_get_404_envelope_and_the_removed_search_gets_410(
    jira: httpx.AsyncClient,
) -> None:
    unknown = await jira.get(f"{API}/no-such-thing")
    removed = await jira.get(f"{API}/search", params={"jql": "project = CRM"})

    assert unknown.status_code == 404
    assert unknown.json()["errors"] == {}
    assert unknown.json()["errorMessages"]
    assert removed.status_code == 410
    assert "/rest/api/3/search/jql" in removed.json()["errorMessages"][0]


async def test_myself_is_the_credential_owner_in_the_configured_time_zone(
    jira: httpx.AsyncClient,
) -> None:
    me = (await jira.get(f"{API}/myself")).json()

    assert me["emailAddress"] == "demo@example.com"
    assert me["timeZone"] == "Europe/Berlin"
    assert me["active"] is True
    assert me["accountType"] == "atlassian"
    assert me["accountId"]


async def test_field_list_names_the_story_points_custom_field(jira: httpx.AsyncClient) -> None:
    fields = {f["id"]: f for f in (await jira.get(f"{API}/field")).json()}

    assert fields["customfield_10016"]["name"] == "Story point estimate"
    assert fields["customfield_10016"]["custom"] is True
    assert fields["customfield_10016"]["schema"] == {
        "type": "number",
        "custom": "com.pyxis.greenhopper.jira:jsw-story-points",
        "customId": 10016,
    }
    assert {"summary", "status", "updated", "fixVersions"} <= fields.keys()


# -- projects and versions ---------------------------------------------------------------------


async def test_project_search_pages_with_start_at_until_is_last() -> None:
    sim = JiraSimulator(issues=10, projects=5)
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://j", auth=AUTH) as jira:
        first = (await jira.get(f"{API}/project/search", params={"maxResults": 2})).json()
        last = (await jira.get(f"{API}/project/search?startAt=4&maxResults=2")).json()

    assert (first["startAt"], first["maxResults"], first["total"]) == (0, 2, 5)
    assert first["isLast"] is False
    assert "startAt=2" in first["nextPage"]
    assert [p["key"] for p in first["values"]] == ["CRM", "DEAL"]  # ordered by key
    assert last["isLast"] is True
    assert "nextPage" not in last
    assert len(last["values"]) == 1
    project = first["values"][0]
    assert project["id"].isdigit()
    assert (project["projectTypeKey"], project["archived"]) == ("software", False)


async def test_project_search_filters_by_keys_and_ids_repeated_or_comma_separated(
    jira: httpx.AsyncClient,
) -> None:
    by_keys = (await jira.get(f"{API}/project/search?keys=CRM,PIPE")).json()
    by_ids = (await jira.get(f"{API}/project/search?id=10001&id=10002")).json()

    assert [p["key"] for p in by_keys["values"]] == ["CRM", "PIPE"]
    assert sorted(p["id"] for p in by_ids["values"]) == ["10001", "10002"]


async def test_project_search_caps_max_results_at_100(jira: httpx.AsyncClient) -> None:
    page = (await jira.get(f"{API}/project/search", params={"maxResults": 500})).json()

    assert page["maxResults"] == 100


async def test_versions_are_paginated_milestones_with_iso_dates(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    page = (await jira.get(f"{API}/project/CRM/version", params={"maxResults": 1})).json()

    assert page["total"] == len(sim._project_versions(sim.projects["CRM"].id))
    assert 2 <= page["total"] <= 4
    version = page["values"][0]
    assert version["projectId"] == 10000
    assert date.fromisoformat(version["releaseDate"])
    assert {"id", "name", "released", "archived", "overdue", "startDate"} <= version.keys()


# -- search/jql paging and fields --------------------------------------------------------------


async def test_next_page_token_paging_visits_every_issue_exactly_once(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    issues = await all_pages(jira, ALL_PROJECTS, maxResults=25)

    ids = [i["id"] for i in issues]
    assert len(ids) == len(set(ids)) == sim.issue_count() == 120
    assert ids == sorted(ids, key=int)  # default order: id ascending


async def test_page_size_defaults_to_50_and_is_capped() -> None:
    sim = JiraSimulator(issues=120, max_results_cap=30)
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://j", auth=AUTH) as jira:
        capped = (await search(jira, ALL_PROJECTS, maxResults=1000)).json()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=JiraSimulator(issues=120).app),
        base_url="http://j",
        auth=AUTH,
    ) as jira:
        default = (await search(jira, ALL_PROJECTS)).json()

    assert len(capped["issues"]) == 30
    assert len(default["issues"]) == 50


async def test_default_fields_are_ids_only(jira: httpx.AsyncClient) -> None:
    issue = (await search(jira, "project = CRM")).json()["issues"][0]

    assert set(issue) == {"id", "key", "self"}
    assert issue["key"].startswith("CRM-")
    assert issue["self"].endswith(f"/rest/api/3/issue/{issue['id']}")


async def test_fields_parameter_selects_comma_separated_and_repeated_fields(
    jira: httpx.AsyncClient,
) -> None:
    response = await jira.get(
        f"{API}/search/jql",
        params=[("jql", "project = CRM"), ("fields", "summary,status"), ("fields", "updated")],
    )

    fields = response.json()["issues"][0]["fields"]
    assert set(fields) == {"summary", "status", "updated"}
    assert fields["status"]["statusCategory"]["key"] in {"new", "indeterminate", "done"}


async def test_all_fields_carry_jira_shapes(jira: httpx.AsyncClient, sim: JiraSimulator) -> None:
    issues = await all_pages(jira, ALL_PROJECTS, fields="*all,-description", maxResults=100)

    fields = [i["fields"] for i in issues]
    assert all("description" not in f for f in fields)
    assert {"summary", "issuetype", "project", "priority", "labels", "customfield_10016"} <= set(
        fields[0]
    )
    categories = {
        f["status"]["statusCategory"]["key"]: f["status"]["statusCategory"]["id"] for f in fields
    }
    assert categories == {"new": 2, "indeterminate": 4, "done": 3}
    assert any(f["assignee"] is None for f in fields)
    assert any("parent" in f for f in fields)
    assert all(
        (f["resolutiondate"] is None) == (f["status"]["statusCategory"]["key"] != "done")
        for f in fields
    )


async def test_datetimes_are_rendered_in_the_configured_zone_with_a_colonless_offset(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    sim.set_clock(datetime(2026, 11, 20, 9, 15, 30, 123000, tzinfo=UTC))
    sim.update_issue("CRM-1", summary="Touched")

    issue = (await search(jira, "key = CRM-1", fields="updated")).json()["issues"][0]

    assert issue["fields"]["updated"] == "2026-11-20T10:15:30.123+0100"


# -- JQL -----------------------------------------------------------------------------------------


async def test_updated_filter_reads_minutes_in_the_users_time_zone(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    # Berlin is UTC+1 in January: "2027/01/10 09:00" there is 08:00Z.
    for key, moment in [
        ("CRM-1", datetime(2027, 1, 10, 7, 59, 59, 999000, tzinfo=UTC)),  # 08:59:59.999 Berlin
        ("CRM-2", datetime(2027, 1, 10, 8, 0, tzinfo=UTC)),  # 09:00 Berlin
        ("CRM-3", datetime(2027, 1, 10, 8, 30, tzinfo=UTC)),  # would be missed if read as UTC
    ]:
        sim.set_clock(moment)
        sim.update_issue(key, summary="changed")

    async def keys(jql: str) -> set[str]:
        return {i["key"] for i in await all_pages(jira, jql)}

    assert await keys('updated >= "2027/01/10 09:00"') == {"CRM-2", "CRM-3"}
    assert await keys('updated >= "2027-01-10 09:00"') == {"CRM-2", "CRM-3"}
    # The literal has no seconds: "> 08:59" includes everything from 08:59:00.000 on.
    assert await keys('updated > "2027/01/10 08:59"') == {"CRM-1", "CRM-2", "CRM-3"}
    assert await keys('updated >= "2027/01/10"') == {"CRM-1", "CRM-2", "CRM-3"}
    with_seconds = await search(jira, 'updated >= "2027/01/10 09:00:30"')
    assert with_seconds.status_code == 400
    assert "is invalid" in with_seconds.json()["errorMessages"][0]


async def test_order_by_updated_then_id_is_total_and_stable(jira: httpx.AsyncClient) -> None:
    issues = await all_pages(
        jira, f"{ALL_PROJECTS} ORDER BY updated ASC, id ASC", fields="updated", maxResults=17
    )

    order = [(i["fields"]["updated"], int(i["id"])) for i in issues]
    stamps = [datetime.strptime(u, "%Y-%m-%dT%H:%M:%S.%f%z") for u, _ in order]
    assert stamps == sorted(stamps)
    assert len(issues) == 120


async def test_order_by_key_desc_sorts_by_project_then_number(jira: httpx.AsyncClient) -> None:
    issues = await all_pages(jira, "project in (CRM, PIPE) ORDER BY key DESC")

    keys = [(i["key"].split("-")[0], int(i["key"].split("-")[1])) for i in issues]
    assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize("jql", ["", "ORDER BY key ASC", "  order by updated  "])
async def test_unbounded_jql_is_refused(jira: httpx.AsyncClient, jql: str) -> None:
    response = await search(jira, jql)

    assert response.status_code == 400
    assert response.json() == {
        "errorMessages": [
            "Unbounded JQL queries are not allowed here. "
            "Please add a search restriction to your query."
        ],
        "errors": {},
    }


@pytest.mark.parametrize(
    "jql",
    [
        "project = CRM AND",
        "project CRM",
        "summary = 'unterminated",
        "nosuchfield = 1",
        "project = CRM ORDER BY summary",
        "project >= CRM",
    ],
)
async def test_invalid_jql_gets_400_with_an_explanation(jira: httpx.AsyncClient, jql: str) -> None:
    response = await search(jira, jql)

    assert response.status_code == 400
    assert response.json()["errorMessages"][0]


async def test_jql_supports_the_clauses_clients_send(jira: httpx.AsyncClient) -> None:
    async def count(jql: str) -> int:
        return len(await all_pages(jira, jql, maxResults=100))

    crm = await count("project = CRM")
    assert crm == await count("project = 10000") == await count('project in ("crm")')
    assert await count("project in (CRM, PIPE)") == crm + await count("project = PIPE")
    assert await count("key = CRM-1") == 1
    assert await count("issuekey in (CRM-1, CRM-2, 10001)") == 3
    assert await count("id in (10001, 10002)") == 2
    assert await count(f"{ALL_PROJECTS} AND statusCategory = done") == await count(
        f'{ALL_PROJECTS} AND status in (Done, "Won\'t Do")'
    )


async def test_a_missing_issue_key_is_an_error_not_an_empty_result(
    jira: httpx.AsyncClient,
) -> None:
    response = await search(jira, "key in (CRM-1, CRM-99999)")

    assert response.status_code == 400
    assert "CRM-99999" in response.json()["errorMessages"][0]


async def test_a_page_token_only_continues_its_own_query(jira: httpx.AsyncClient) -> None:
    token = (await search(jira, "project = CRM", maxResults=5)).json()["nextPageToken"]

    response = await search(jira, "project = PIPE", nextPageToken=token)

    assert response.status_code == 400


async def test_an_issue_edited_mid_scan_comes_again_at_the_end_and_nothing_is_skipped(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    jql = f"{ALL_PROJECTS} ORDER BY updated ASC, id ASC"
    first = (await search(jira, jql, maxResults=50)).json()
    edited = first["issues"][0]["id"]
    sim.update_issue(edited, summary="edited between pages")  # now the most recently updated

    ids = [i["id"] for i in first["issues"]]
    token = first["nextPageToken"]
    while token:
        page = (await search(jira, jql, maxResults=50, nextPageToken=token)).json()
        ids += [i["id"] for i in page["issues"]]
        token = page.get("nextPageToken")

    assert set(ids) == {str(i) for i in sim.issues}
    assert ids.count(edited) == 2
    assert ids[-1] == edited
    assert len(ids) == 121


async def test_post_search_takes_the_same_parameters_in_a_json_body(
    jira: httpx.AsyncClient,
) -> None:
    body = {"jql": "project = CRM", "maxResults": 5, "fields": ["summary"]}
    posted = (await jira.post(f"{API}/search/jql", json=body)).json()
    got = (await search(jira, "project = CRM", maxResults=5, fields="summary")).json()

    assert posted == got
    follow = {**body, "nextPageToken": posted["nextPageToken"]}
    second = (await jira.post(f"{API}/search/jql", json=follow)).json()
    assert second["issues"][0]["id"] != posted["issues"][0]["id"]


# -- mutations ----------------------------------------------------------------------------------


async def test_an_update_bumps_updated_and_is_seen_by_an_incremental_query(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    sim.set_clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    sim.update_issue("PIPE-2", status="Done", story_points=8, assignee_email="")

    changed = await all_pages(jira, 'updated >= "2026/12/01 13:00"', fields="*all")

    assert [i["key"] for i in changed] == ["PIPE-2"]
    fields = changed[0]["fields"]
    assert fields["updated"] == "2026-12-01T13:00:00.000+0100"
    assert fields["status"]["name"] == "Done"
    assert fields["resolutiondate"] == fields["updated"]
    assert fields["customfield_10016"] == 8.0
    assert fields["assignee"] is None


async def test_added_issues_get_the_next_key_and_id(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    before = sim.issue_count()
    key = sim.add_issue("ENBL", summary="Record objection-handling videos")

    found = (await search(jira, f"key = {key}", fields="summary,status")).json()["issues"]

    assert sim.issue_count() == before + 1
    assert found[0]["id"] == str(10001 + before)
    assert found[0]["fields"]["summary"] == "Record objection-handling videos"
    assert found[0]["fields"]["status"]["name"] == "To Do"


async def test_a_deleted_issue_stops_matching(jira: httpx.AsyncClient, sim: JiraSimulator) -> None:
    sim.delete_issue("10001")

    ids = {i["id"] for i in await all_pages(jira, ALL_PROJECTS, maxResults=100)}

    assert "10001" not in ids
    assert len(ids) == sim.issue_count() < 120
    assert (await search(jira, "id = 10001")).status_code == 400


async def test_a_hidden_project_vanishes_from_projects_and_search(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    sim.hide_project("ENBL")

    project = await jira.get(f"{API}/project/ENBL")
    versions = await jira.get(f"{API}/project/ENBL/version")
    listed = (await jira.get(f"{API}/project/search")).json()
    named = await search(jira, "project in (CRM, ENBL)")
    everything = await all_pages(jira, 'updated >= "2020/01/01"', fields="project")

    assert project.status_code == versions.status_code == 404
    assert project.json()["errorMessages"] == ["No project could be found with key 'ENBL'."]
    assert [p["key"] for p in listed["values"]] == ["CRM", "PIPE"]
    assert named.status_code == 400
    assert named.json() == {
        "errorMessages": ["The value 'ENBL' does not exist for the field 'project'."],
        "errors": {},
    }
    assert {i["fields"]["project"]["key"] for i in everything} == {"CRM", "PIPE"}
    assert sim.issue_count() == len(everything)


# -- failure injection ---------------------------------------------------------------------------


async def test_a_queued_429_carries_retry_after_then_the_request_succeeds(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    sim.fail_next(429, retry_after="7")

    limited = await search(jira, "project = CRM")
    retried = await search(jira, "project = CRM")

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
    assert limited.json()["errorMessages"]
    assert retried.status_code == 200
    assert sim.request_count == 2


async def test_failures_can_target_a_path_and_repeat(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    sim.fail_next(503, count=2, path_contains="/search/jql", body="<html>upstream</html>")

    unaffected = await jira.get(f"{API}/myself")
    first, second, third = [await search(jira, "project = CRM") for _ in range(3)]

    assert unaffected.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.text == "<html>upstream</html>"


async def test_a_corrupt_page_has_a_string_status_once(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    sim.corrupt_next_search_page()

    corrupt = (await search(jira, "project = CRM", fields="status")).json()
    clean = (await search(jira, "project = CRM", fields="status")).json()

    assert isinstance(corrupt["issues"][0]["fields"]["status"], str)
    assert corrupt["issues"][0]["fields"]["status"] in STATUSES
    assert isinstance(clean["issues"][0]["fields"]["status"], dict)


# -- data --------------------------------------------------------------------------------------


async def test_the_same_seed_gives_the_same_site() -> None:
    async def first_page(seed: int) -> bytes:
        sim = JiraSimulator(issues=60, seed=seed)
        transport = httpx.ASGITransport(app=sim.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://j", auth=AUTH) as j:
            return (await search(j, ALL_PROJECTS, fields="*all", maxResults=60)).content

    assert await first_page(7) == await first_page(7)
    assert await first_page(7) != await first_page(8)


def test_generated_issues_look_like_a_sales_ops_backlog() -> None:
    sim = JiraSimulator(issues=400)
    issues = list(sim.issues.values())

    assert [p.name for p in sim.projects.values()] == [
        "CRM Rollout",
        "Pipeline Reviews",
        "Sales Enablement",
    ]
    assert issues[0].id == 10001
    assert all(i.updated_ms >= i.created_ms for i in issues)
    assert all((i.resolution_ms is None) == (STATUSES[i.status].category != "done") for i in issues)
    assert {i.issuetype for i in issues} == {"Epic", "Story", "Task", "Bug", "Sub-task"}
    assert 6 <= len({i.assignee for i in issues if i.assignee is not None}) <= 10
    today = sim.clock().date()
    assert any(i.duedate is not None and i.duedate < today for i in issues)  # some overdue


def test_serve_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(host="0.0.0.0")  # noqa: S104 - the address under test


async def test_bulk_fetch_returns_visible_issues_by_id_or_key_in_id_order(
    jira: httpx.AsyncClient, sim: JiraSimulator
) -> None:
    first, second, gone = sorted(sim.issues)[:3]
    sim.delete_issue(str(gone))
    key = sim.issues[second].key
    response = await jira.post(
        f"{API}/issue/bulkfetch",
        json={"issueIdsOrKeys": [key, str(first), str(gone)], "fields": ["summary", "status"]},
    )
    assert response.status_code == 200
    body = response.json()
    assert [i["id"] for i in body["issues"]] == [str(first), str(second)]
    assert set(body["issues"][0]["fields"]) == {"summary", "status"}
    assert body["issueErrors"] == []


async def test_bulk_fetch_takes_at_most_a_hundred_issues(jira: httpx.AsyncClient) -> None:
    ids = [str(n) for n in range(10001, 10102)]
    response = await jira.post(f"{API}/issue/bulkfetch", json={"issueIdsOrKeys": ids})
    assert response.status_code == 400
    assert "100" in response.json()["errorMessages"][0]
