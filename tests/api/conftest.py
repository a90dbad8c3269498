"""An API over the test database, a Jira simulator behind it, and keys of each scope."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.services import Services
from sandbox.jira import JiraSimulator
from sync.engine.runner import SyncEnvironment
from sync.settings import Settings
from sync.store import keys
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from tests.builders import make_environment, make_jira_simulator
from tests.fakes import FakeClock, FakeSleep


@pytest.fixture
def simulator() -> JiraSimulator:
    return make_jira_simulator(issues=150)


@pytest.fixture
def sync_env(
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    simulator: JiraSimulator,
) -> SyncEnvironment:
    return make_environment(sessions=db, box=box, clock=clock, sleep=sleep, app=simulator.app)


@pytest.fixture
def services(
    engine: Engine,
    db: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sync_env: SyncEnvironment,
) -> Services:
    settings = Settings(api_page_default=50, api_page_max=200)
    return Services(
        settings=settings, engine=engine, sessions=db, box=box, sync=sync_env, clock=clock
    )


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI stack, in-process: routing, validation, error handlers, auth."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://pmbridge.test") as http:
        yield http


def make_key(services: Services, scope: str, name: str | None = None) -> str:
    with unit_of_work(services.sessions) as session:
        _row, plaintext = keys.create_key(
            session, name=name or f"{scope}-key", scopes=[scope], now=services.clock()
        )
    return plaintext


@pytest.fixture
def read_headers(services: Services) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(services, 'read')}"}


@pytest.fixture
def admin_headers(services: Services) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(services, 'admin')}"}
