"""Malformed requests get a precise 4xx, never a 500, and change nothing stored: ids past
64 bits, digits int() refuses, forged cursors, dates at the calendar's edge, URLs that are
not URLs."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from api.services import Services
from sync.model import Tool
from sync.store import inbox
from sync.store.crypto import SecretBox
from tests.api.conftest import make_key
from tests.builders_goals import make_connection
from tests.fakes import FakeClock

HUGE = "99999999999999999999"  # past 2**63 - 1


@pytest.fixture
def all_headers(services: Services) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(services, 'admin', name='bad-input')}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/v1/goals/{HUGE}"),
        ("GET", f"/v1/goals/{HUGE}/rollup"),
        ("DELETE", f"/v1/goals/{HUGE}"),
        ("GET", f"/v1/risks/{HUGE}"),
        ("GET", f"/admin/connections/{HUGE}"),
        ("POST", f"/admin/connections/{HUGE}/webhooks"),
        ("POST", f"/admin/connections/{HUGE}/webhooks/refresh"),
        ("POST", f"/admin/inbox/{HUGE}/retry"),
        ("POST", f"/webhooks/{HUGE}"),
        ("GET", f"/v1/goals?parent={HUGE}"),
        ("GET", f"/v1/risks?goal={HUGE}"),
        ("GET", "/v1/risks?goal=%C2%B2"),  # "²": a digit to isdigit, not to int()
        ("GET", f"/admin/inbox?connection={HUGE}"),
    ],
)
async def test_an_id_no_row_can_have_is_a_422(
    client: httpx.AsyncClient, all_headers: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(method, path, headers=all_headers)
    assert response.status_code == 422, response.text


async def test_a_goal_naming_a_parent_past_64_bits_is_refused(
    client: httpx.AsyncClient, all_headers: dict[str, str]
) -> None:
    body = {"title": "x", "metric": "items_done", "baseline": 0, "target": 1}
    response = await client.post(
        "/v1/goals", json={**body, "parent_id": int(HUGE)}, headers=all_headers
    )
    assert response.status_code == 422
    assert (await client.get("/v1/goals", headers=all_headers)).json()["data"] == []


async def test_a_cursor_past_64_bits_is_not_one_this_api_issued(
    client: httpx.AsyncClient, all_headers: dict[str, str]
) -> None:
    forged = base64.urlsafe_b64encode(json.dumps({"after": 10**30}).encode()).decode()
    response = await client.get(f"/v1/goals?cursor={forged}", headers=all_headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "cursor"


async def test_history_up_to_the_calendars_first_day_is_an_empty_series(
    client: httpx.AsyncClient, all_headers: dict[str, str]
) -> None:
    body = {"title": "x", "metric": "items_done", "baseline": 0, "target": 1}
    goal = (await client.post("/v1/goals", json=body, headers=all_headers)).json()
    response = await client.get(
        f"/v1/goals/{goal['id']}/history?to=0001-01-01", headers=all_headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("url", ["not a url", "", "ftp://pmbridge.example.com/hook"])
async def test_a_callback_that_is_not_an_http_url_registers_nothing(
    client: httpx.AsyncClient,
    all_headers: dict[str, str],
    services: Services,
    box: SecretBox,
    clock: FakeClock,
    url: str,
) -> None:
    connection_id = make_connection(
        services.sessions, box, name="hooks", tool=Tool.WORKTILE, now=clock()
    )
    response = await client.post(
        f"/admin/connections/{connection_id}/webhooks",
        json={"callback_url": url},
        headers=all_headers,
    )
    assert response.status_code == 422
    with services.sessions() as session:
        assert inbox.list_registrations(session, connection_id) == []


async def test_one_goal_refuses_an_unknown_include_as_the_list_does(
    client: httpx.AsyncClient, all_headers: dict[str, str]
) -> None:
    body = {"title": "x", "metric": "items_done", "baseline": 0, "target": 1}
    goal = (await client.post("/v1/goals", json=body, headers=all_headers)).json()
    for path in (f"/v1/goals/{goal['id']}?include=bogus", "/v1/goals?include=bogus"):
        response = await client.get(path, headers=all_headers)
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "include"
