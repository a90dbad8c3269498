"""Admin: connections (credentials write-only), sync triggers and the runs they leave."""

from __future__ import annotations

from typing import Any

import httpx

from api.services import Services
from sync.store.tables import Connection

JIRA = {
    "name": "sales",
    "tool": "jira",
    "base_url": "http://127.0.0.1:8101",
    "credentials": {"email": "demo@example.com", "api_token": "demo-token"},
    "scope": ["CRM", "PIPE"],
}


async def create(client: httpx.AsyncClient, headers: dict[str, str], **changes: Any) -> Any:
    return await client.post("/admin/connections", json={**JIRA, **changes}, headers=headers)


async def test_a_connection_is_created_and_never_shows_its_credentials(
    client: httpx.AsyncClient, admin_headers: dict[str, str], services: Services
) -> None:
    response = await create(client, admin_headers)
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "sales"
    assert body["state"] == "active"
    assert "credentials" not in body
    assert "demo-token" not in response.text
    listed = (await client.get("/admin/connections", headers=admin_headers)).text
    assert "demo-token" not in listed
    with services.sessions() as session:
        stored = session.get_one(Connection, body["id"])
    assert b"demo-token" not in stored.credentials  # sealed at rest
    assert services.box.open(stored.credentials)["api_token"] == "demo-token"


async def test_plain_http_to_a_network_host_is_refused_with_the_reason(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await create(client, admin_headers, base_url="http://jira.example.com")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "InsecureBaseUrl"
    assert "clear text" in error["message"]


async def test_missing_credentials_are_named(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await create(client, admin_headers, credentials={"email": "x@example.com"})
    assert response.status_code == 422
    assert "api_token" in response.json()["error"]["message"]


async def test_a_duplicate_name_is_a_conflict(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create(client, admin_headers)
    response = await create(client, admin_headers)
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "name"


async def test_an_unknown_tool_is_a_precise_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await create(client, admin_headers, tool="basecamp")
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == "tool"


async def test_a_bad_status_override_is_refused_before_anything_is_stored(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await create(client, admin_headers, options={"status_overrides": {"QA": "nearly"}})
    assert response.status_code == 422
    assert (await client.get("/admin/connections", headers=admin_headers)).json() == []


async def test_triggering_a_sync_runs_it_and_records_the_run(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    connection_id = (await create(client, admin_headers, scope=[])).json()["id"]
    response = await client.post(
        f"/admin/connections/{connection_id}/sync?kind=full", headers=admin_headers
    )
    assert response.status_code == 202
    assert response.json()["status"] == "running"
    runs = (
        await client.get(f"/admin/sync-runs?connection={connection_id}", headers=admin_headers)
    ).json()
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["kind"] == "full"
    assert runs[0]["stored_count"] == 150


async def test_syncing_an_unknown_connection_is_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post("/admin/connections/999/sync", headers=admin_headers)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFound"


async def test_an_unknown_sync_kind_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    connection_id = (await create(client, admin_headers)).json()["id"]
    response = await client.post(
        f"/admin/connections/{connection_id}/sync?kind=everything", headers=admin_headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == "kind"


async def test_a_body_that_is_not_json_says_so_and_stores_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/admin/connections",
        content=b'{"name": "sales", "tool": ',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"].startswith("the body is not valid JSON (at character")
    assert error["problems"][0]["field"] is None
    assert (await client.get("/admin/connections", headers=admin_headers)).json() == []
