"""What every vendor simulator offers the shared connector contract suite and the demo.

Each simulator module keeps its own vendor-shaped API for tests that need it; this protocol is
the common, vendor-neutral handle: build one with :data:`sandbox.registry.SIMULATORS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Delivery:
    """A webhook delivery exactly as the vendor would send it."""

    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A delivery a simulator queued for the receiver URL a webhook registration named (see
    :func:`sandbox.deliveries.dispatch`)."""

    url: str
    delivery: Delivery


class Simulator(Protocol):
    #: The ASGI app (``httpx.ASGITransport(app=...)`` or uvicorn).
    app: Any
    #: What a connection needs to authenticate against this simulator.
    credentials: Mapping[str, str]
    #: Connection scope (project/board ids) that covers all the simulator's data.
    scope: tuple[str, ...]
    #: Connection options the connector needs for this simulator (workspace, ...).
    options: Mapping[str, Any]
    #: Whether the vendor signs webhook bodies (Jira, Trello, Asana). Worktile and PingCode
    #: document no signature: a shared token authenticates the sender but cannot detect a
    #: tampered body, so the contract checks that half only where a signature exists.
    signs_body: bool

    def work_item_ids(self) -> list[str]:
        """Vendor ids of every live work item visible to ``credentials``."""
        ...

    def touch_item(self, vendor_id: str, *, title: str) -> None:
        """Rename an item, moving its vendor "updated" time forward."""
        ...

    def delete_item(self, vendor_id: str) -> None: ...

    def delivery(self, vendor_id: str, *, secret: str, url: str) -> Delivery:
        """A signed webhook delivery announcing a change to ``vendor_id``."""
        ...
