"""Refreshing many issues at once: ``POST /rest/api/3/issue/bulkfetch`` (respx), 100 ids per
request, absent issues as ``None`` (as a 404 would be), per-issue errors as failures."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from sync.connectors.jira.connector import BULK_FETCH_MAX, ISSUE_FIELDS
from sync.connectors.jira.payloads import JiraIssue
from sync.errors import ContractBroken, InvalidRequest, VendorUnavailable
from sync.model import Resource
from tests.fakes import FakeClock, FakeSleep
from tests.sync.connectors.jira.test_connector import SITE, connector, issue

BULK = f"{SITE}/rest/api/3/issue/bulkfetch"


def answer(*issues: dict[str, Any], errors: list[dict[str, str]] | None = None) -> httpx.Response:
    return httpx.Response(
        200, json={"expand": "names", "issues": list(issues), "issueErrors": errors or []}
    )


@respx.mock
async def test_issues_come_back_by_id_and_the_missing_ones_as_none(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    route = respx.post(BULK).mock(return_value=answer(issue(2), issue(1)))
    found = await connector(sleep, clock).fetch_many(
        Resource.WORK_ITEMS, ["10001", "10002", "10009"]
    )
    request = json.loads(route.calls.last.request.content)
    assert request == {"issueIdsOrKeys": ["10001", "10002", "10009"], "fields": list(ISSUE_FIELDS)}
    keys = {i: p.key for i, p in found.items() if isinstance(p, JiraIssue)}
    assert keys == {"10001": "CRM-1", "10002": "CRM-2"}
    assert found["10009"] is None  # deleted, or not visible: Jira leaves it out


@respx.mock
async def test_more_than_a_hundred_ids_take_one_request_per_hundred(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    route = respx.post(BULK).mock(return_value=answer())
    ids = [str(10000 + n) for n in range(BULK_FETCH_MAX * 2 + 1)]
    found = await connector(sleep, clock).fetch_many(Resource.WORK_ITEMS, [*ids, ids[0]])
    sizes = [len(json.loads(c.request.content)["issueIdsOrKeys"]) for c in route.calls]
    assert sizes == [BULK_FETCH_MAX, BULK_FETCH_MAX, 1]
    assert set(found) == set(ids)


@respx.mock
async def test_an_issue_jira_could_not_return_is_that_issues_failure(
    sleep: FakeSleep, clock: FakeClock
) -> None:
    respx.post(BULK).mock(
        return_value=answer(issue(1), errors=[{"id": "10002", "errorMessage": "try again"}])
    )
    found = await connector(sleep, clock).fetch_many(Resource.WORK_ITEMS, ["10001", "10002"])
    assert isinstance(found["10001"], JiraIssue)
    failure = found["10002"]
    assert isinstance(failure, VendorUnavailable)
    assert "try again" in failure.message


@respx.mock
async def test_a_malformed_answer_breaks_the_contract(sleep: FakeSleep, clock: FakeClock) -> None:
    respx.post(BULK).mock(return_value=httpx.Response(200, json={"issues": "nope"}))
    with pytest.raises(ContractBroken) as caught:
        await connector(sleep, clock).fetch_many(Resource.WORK_ITEMS, ["10001"])
    assert "bulkfetch" in str(caught.value.details.get("endpoint"))


async def test_only_work_items_are_fetched_in_bulk(sleep: FakeSleep, clock: FakeClock) -> None:
    jira = connector(sleep, clock)
    assert jira.bulk_resources == frozenset({Resource.WORK_ITEMS})
    with pytest.raises(InvalidRequest):
        await jira.fetch_many(Resource.MILESTONES, ["10100"])
