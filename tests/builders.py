"""Keyword-only builders for the objects tests need, instead of webs of fixtures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from sandbox.jira import JiraSimulator
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment
from sync.model import Tool
from sync.settings import Settings
from sync.store.crypto import SecretBox
from sync.store.database import unit_of_work
from tests.fakes import FakeClock, FakeSleep

JIRA_CREDENTIALS = {"email": "demo@example.com", "api_token": "demo-token"}


def make_environment(
    *,
    sessions: sessionmaker[Session],
    box: SecretBox,
    clock: FakeClock,
    sleep: FakeSleep,
    app: Any,
    max_attempts: int = 3,
    max_retry_wait: float = 60.0,
) -> SyncEnvironment:
    """An engine environment whose vendor is an in-process ASGI simulator."""
    return SyncEnvironment(
        sessions=sessions,
        box=box,
        settings=Settings(http_max_attempts=max_attempts, http_max_retry_wait=max_retry_wait),
        clock=clock,
        sleep=sleep,
        monotonic=clock.monotonic,
        transport_for=lambda _connection: httpx.ASGITransport(app=app),
    )


def make_jira_connection(
    env: SyncEnvironment,
    *,
    name: str = "sales",
    scope: Sequence[str] = (),
    credentials: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    with unit_of_work(env.sessions) as session:
        connection = add_connection(
            session,
            env.box,
            name=name,
            tool=Tool.JIRA,
            base_url="http://127.0.0.1:8101",
            credentials=credentials or JIRA_CREDENTIALS,
            scope=scope,
            options=options,
            now=env.clock(),
        )
        return connection.id


def make_jira_simulator(*, issues: int = 120, projects: int = 3, **kwargs: Any) -> JiraSimulator:
    return JiraSimulator(issues=issues, projects=projects, **kwargs)
