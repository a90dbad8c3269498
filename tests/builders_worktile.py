"""Keyword-only builders for Worktile connections and simulators (beside tests/builders.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.worktile import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, WorktileSimulator
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment
from sync.model import Tool
from sync.store.database import unit_of_work

WORKTILE_CREDENTIALS = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}


def make_worktile_connection(
    env: SyncEnvironment,
    *,
    name: str = "enablement",
    scope: Sequence[str] = (),
    credentials: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    with unit_of_work(env.sessions) as session:
        connection = add_connection(
            session,
            env.box,
            name=name,
            tool=Tool.WORKTILE,
            base_url="http://127.0.0.1:8104",
            credentials=credentials or WORKTILE_CREDENTIALS,
            scope=scope,
            options=options,
            now=env.clock(),
        )
        return connection.id


def make_worktile_simulator(
    *, items: int = 120, projects: int = 3, **kwargs: Any
) -> WorktileSimulator:
    return WorktileSimulator(items=items, projects=projects, **kwargs)
