"""Builders for Asana engine tests (kept apart from tests/builders.py, which others edit)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.asana import AsanaSimulator
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment
from sync.model import Tool
from sync.store.database import unit_of_work

#: Where a connection points; the environment's transport sends it to the in-process app.
ASANA_BASE_URL = "http://127.0.0.1:8103/api/1.0"


def make_asana_simulator(*, items: int = 120, projects: int = 3, **kwargs: Any) -> AsanaSimulator:
    return AsanaSimulator(items=items, projects=projects, **kwargs)


def make_asana_connection(
    env: SyncEnvironment,
    simulator: AsanaSimulator,
    *,
    name: str = "asana",
    scope: Sequence[str] = (),
    credentials: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    with unit_of_work(env.sessions) as session:
        connection = add_connection(
            session,
            env.box,
            name=name,
            tool=Tool.ASANA,
            base_url=ASANA_BASE_URL,
            credentials=credentials or {"access_token": simulator.token},
            scope=scope,
            options={"workspace": simulator.workspace_gid, **(options or {})},
            now=env.clock(),
        )
        return connection.id
