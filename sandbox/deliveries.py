"""Simulators announcing their changes: signed deliveries posted to a receiver over loopback.

Vendor-neutral: it asks any :class:`sandbox.contract.Simulator` handle for its
``delivery(vendor_id, secret=, url=)`` (exactly what that tool would send: body and signature
headers) and posts it to ``url``. ``change`` renames an item in the simulator first, as a
person editing it in the tool would, so the demo shows changes arriving live.

Where a simulator keeps webhook registrations of its own (Jira's dynamic webhooks), it queues
what it would send, addressed to each registered URL (:class:`sandbox.contract.Outgoing`), and
:func:`dispatch` posts that queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx

from sandbox.contract import Outgoing, Simulator
from sync.http.client import is_loopback


def _is_loopback(url: str) -> bool:
    return is_loopback(urlsplit(url).hostname or "")


class DeliverySender:
    """Posts one simulator's deliveries to one receiver URL (loopback only)."""

    def __init__(
        self,
        simulator: Simulator,
        *,
        url: str,
        secret: str,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not _is_loopback(url):
            raise ValueError(f"simulated deliveries go to loopback receivers only, not {url!r}")
        self.simulator = simulator
        self.url = url
        self.secret = secret
        self._client = client or httpx.AsyncClient(timeout=10)
        self._owns_client = client is None
        #: Status codes of the deliveries sent, in order.
        self.statuses: list[int] = []

    async def send(self, vendor_id: str) -> httpx.Response:
        """Announce a change to ``vendor_id``; the receiver's answer is returned."""
        delivery = self.simulator.delivery(vendor_id, secret=self.secret, url=self.url)
        response = await self._client.post(
            self.url, content=delivery.body, headers=dict(delivery.headers)
        )
        self.statuses.append(response.status_code)
        return response

    async def change(self, vendor_id: str, *, title: str) -> httpx.Response:
        """Rename an item in the tool, then deliver the news of it."""
        self.simulator.touch_item(vendor_id, title=title)
        return await self.send(vendor_id)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> DeliverySender:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


async def dispatch(
    outbox: Iterable[Outgoing], *, client: httpx.AsyncClient | None = None
) -> list[httpx.Response]:
    """Post each queued delivery to the URL it is addressed to, in order; the answers are
    returned. Loopback URLs only (checked before anything is sent): a simulator never posts
    to a real host. ``client`` may be an in-process ASGI client (tests)."""
    queued = list(outbox)
    for item in queued:
        if not _is_loopback(item.url):
            raise ValueError(
                f"simulated deliveries go to loopback receivers only, not {item.url!r}"
            )
    http = client or httpx.AsyncClient(timeout=10)
    try:
        return [
            await http.post(
                item.url, content=item.delivery.body, headers=dict(item.delivery.headers)
            )
            for item in queued
        ]
    finally:
        if client is None:
            await http.aclose()
