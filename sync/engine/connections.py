"""Adding a connection: the connector vets the credentials, the store seals and keeps them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from sync.connectors import CONNECTORS
from sync.engine.runner import rate_budget
from sync.errors import InvalidRequest
from sync.model import Tool
from sync.store import connections as connection_store
from sync.store.crypto import SecretBox
from sync.store.tables import Connection


def add_connection(
    session: Session,
    box: SecretBox,
    *,
    name: str,
    tool: Tool,
    credentials: Mapping[str, str],
    now: datetime,
    base_url: str | None = None,
    scope: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
) -> Connection:
    connector = CONNECTORS.get(tool)
    if connector is None:
        supported = ", ".join(sorted(t.value for t in CONNECTORS))
        raise InvalidRequest(f"no connector for {tool}; supported: {supported}", field="tool")
    connector.check_credentials(credentials)
    rate_budget(connector.rate_limit, dict(options or {}))
    return connection_store.create_connection(
        session,
        box,
        name=name,
        tool=tool,
        base_url=base_url or connector.default_base_url,
        credentials=credentials,
        scope=scope,
        options=options,
        now=now,
    )
