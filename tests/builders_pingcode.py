"""Builders for PingCode tests (beside ``tests/builders.py``, which stays vendor-neutral)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.pingcode import PingCodeSimulator
from sync.engine.connections import add_connection
from sync.engine.runner import SyncEnvironment
from sync.model import Tool
from sync.store.database import unit_of_work

PINGCODE_CREDENTIALS = {"client_id": "pmbridge-demo", "client_secret": "demo-secret"}


def make_pingcode_connection(
    env: SyncEnvironment,
    *,
    name: str = "quotes",
    scope: Sequence[str] = (),
    credentials: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    with unit_of_work(env.sessions) as session:
        connection = add_connection(
            session,
            env.box,
            name=name,
            tool=Tool.PINGCODE,
            base_url="http://127.0.0.1:8105",
            credentials=credentials or PINGCODE_CREDENTIALS,
            scope=scope,
            options=options,
            now=env.clock(),
        )
        return connection.id


def make_pingcode_simulator(*, items: int = 120, **kwargs: Any) -> PingCodeSimulator:
    return PingCodeSimulator(items=items, **kwargs)
