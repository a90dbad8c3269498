"""Every route but health needs a key; scopes nest read < write < admin."""

from __future__ import annotations

from datetime import timedelta

import httpx

from api.app import create_app
from api.auth import KeyCache
from api.services import Services
from sync.store import keys
from sync.store.database import unit_of_work
from sync.store.keys import Scope
from tests.api.conftest import make_key


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_readiness_checks_the_database_and_migrations(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "current"}


async def test_a_missing_key_is_401_with_a_hint(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/items")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["error"]["message"]


async def test_a_wrong_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/items", headers={"Authorization": "Bearer pmb_nope"})
    assert response.status_code == 401


async def test_a_read_key_cannot_administer(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    assert (await client.get("/v1/items", headers=read_headers)).status_code == 200
    response = await client.get("/admin/connections", headers=read_headers)
    assert response.status_code == 403
    assert "'admin' scope" in response.json()["error"]["message"]


async def test_an_admin_key_can_also_read(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    assert (await client.get("/v1/items", headers=admin_headers)).status_code == 200


async def test_a_revoked_key_stops_working(client: httpx.AsyncClient, services: Services) -> None:
    key = make_key(services, "read", name="temp")
    with unit_of_work(services.sessions) as session:
        assert keys.revoke_key(session, "temp", now=services.clock())
    response = await client.get("/v1/items", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401


async def test_keys_are_stored_hashed_and_last_use_is_recorded(
    client: httpx.AsyncClient, services: Services
) -> None:
    key = make_key(services, "read", name="bi")
    await client.get("/v1/items", headers={"Authorization": f"Bearer {key}"})
    with services.sessions() as session:
        (row,) = keys.list_keys(session)
    assert key not in (row.key_hash, row.prefix)
    assert row.key_hash == keys.hash_key(key)
    assert row.last_used_at == services.clock()
    assert services.clock() - row.created_at < timedelta(seconds=1)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_revoked_elsewhere_stops_working_once_the_cache_expires(
    services: Services,
) -> None:
    """A process trusts a key it checked for a few seconds: a revocation by another process
    (``pmbridge keys revoke``) takes effect here within that time, not at once."""
    monotonic = FakeMonotonic()
    app = create_app(services)
    app.state.key_cache = KeyCache(5.0, monotonic=monotonic)
    key = make_key(services, "read", name="temp")
    headers = {"Authorization": f"Bearer {key}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pmbridge.test") as http:
        assert (await http.get("/v1/items", headers=headers)).status_code == 200
        with unit_of_work(services.sessions) as session:
            assert keys.revoke_key(session, "temp", now=services.clock())
        monotonic.now += 4.9
        assert (await http.get("/v1/items", headers=headers)).status_code == 200
        monotonic.now += 0.1
        assert (await http.get("/v1/items", headers=headers)).status_code == 401


async def test_scopes_are_enforced_for_a_cached_key_too(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    assert (await client.get("/v1/items", headers=read_headers)).status_code == 200
    assert (await client.get("/admin/connections", headers=read_headers)).status_code == 403


def test_a_zero_ttl_cache_remembers_nothing() -> None:
    cache = KeyCache(0.0)
    cache.put("digest", "bi", frozenset({Scope.READ}))
    assert cache.get("digest") is None


def test_the_cache_holds_a_bounded_number_of_keys() -> None:
    cache = KeyCache(60.0, max_keys=2)
    for name in ("a", "b", "c"):
        cache.put(name, name, frozenset({Scope.READ}))
    assert cache.get("a") is None
    assert cache.get("c") is not None
