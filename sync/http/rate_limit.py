"""The request budget a connector declares, and the limiter that enforces it client-side.

Vendors publish budgets as "N requests per window" (Trello: 100 per 10 s per token) and some
also cap concurrency (Worktile). Pacing ourselves keeps us off the 429 path, which is slower
for everybody: the vendor's ``Retry-After`` is usually longer than the pacing delay.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A sliding-window budget: at most ``requests`` per ``per_seconds``."""

    requests: int
    per_seconds: float
    #: Requests in flight at once; ``None`` leaves it to the caller's own concurrency.
    max_in_flight: int | None = None
    #: Where the number comes from (a doc section), so it can be rechecked.
    source: str = ""

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError("a rate limit needs at least one request per positive window")


class RateLimiter:
    """Sliding-window limiter: remembers the start times of the last ``requests`` calls.

    Clock and sleep are injected so tests can drive time without waiting on it.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._in_flight = (
            asyncio.Semaphore(limit.max_in_flight) if limit.max_in_flight is not None else None
        )
        #: Total seconds spent waiting for budget, for sync-run statistics and benchmarks.
        self.waited = 0.0

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                window_start = now - self.limit.per_seconds
                while self._starts and self._starts[0] <= window_start:
                    self._starts.popleft()
                if len(self._starts) < self.limit.requests:
                    self._starts.append(now)
                    break
                delay = self._starts[0] - window_start
                self.waited += delay
                await self._sleep(delay)
        if self._in_flight is not None:
            await self._in_flight.acquire()

    def release(self) -> None:
        if self._in_flight is not None:
            self._in_flight.release()
