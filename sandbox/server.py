"""What every simulator shares: serving on loopback, its ASGI entry object, and the
failures a test injects with ``fail_next`` (each simulator renders them in its vendor's own
error shapes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from sync.http.client import is_loopback


def run_on_loopback(
    vendor: str, app: Callable[[], ASGIApp], host: str, port: int, **uvicorn_options: Any
) -> None:
    """Serve a simulator under uvicorn; loopback only, since it accepts a demo credential.
    ``app`` builds the simulator once the address is known to be allowed."""
    if not is_loopback(host):
        raise ValueError(f"the {vendor} simulator only listens on loopback, not {host!r}")
    import uvicorn  # imported here so that using the apps in tests does not need a server

    uvicorn.run(
        app(), host=host, port=port, log_level="warning", access_log=False, **uvicorn_options
    )


class AsgiEntry:
    """The ASGI entry point. An object with an async ``__call__`` (not a bound method) so
    that uvicorn recognises it as ASGI 3 when handed ``sim.app`` directly."""

    def __init__(self, handle: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send)


@dataclass(slots=True)
class Failure:
    status: int
    remaining: int
    retry_after: str | None
    #: A str is sent as text (an HTML page from a proxy, say), a dict as JSON, None: the
    #: simulator's own error body for the status.
    body: str | dict[str, Any] | None
    path_contains: str | None
    method: str | None


class FailureQueue:
    """Failures to answer the next matching requests with, before auth and routing."""

    def __init__(self) -> None:
        self._queue: list[Failure] = []

    def add(
        self,
        status: int,
        *,
        count: int,
        retry_after: str | None,
        body: str | dict[str, Any] | None,
        path_contains: str | None,
        method: str | None = None,
    ) -> None:
        if not 400 <= status <= 599:
            raise ValueError("fail_next takes an HTTP error status (400-599)")
        if count < 1:
            raise ValueError("count must be at least 1")
        self._queue.append(
            Failure(
                status, count, retry_after, body, path_contains, method.upper() if method else None
            )
        )

    def clear(self) -> None:
        """The vendor recovers: no failure is pending any more."""
        self._queue.clear()

    def take(self, path: str, method: str) -> Failure | None:
        """The first failure matching the request, counted down (and dropped when used up)."""
        for index, failure in enumerate(self._queue):
            if (failure.path_contains is None or failure.path_contains in path) and (
                failure.method is None or failure.method == method
            ):
                failure.remaining -= 1
                if failure.remaining == 0:
                    del self._queue[index]
                return failure
        return None
