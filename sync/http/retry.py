"""Retry policy for vendor requests: tenacity, honouring ``Retry-After``, injectable sleep."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

Sleep = Callable[[float], Awaitable[None]]

#: Statuses worth another try: throttling and the gateway family (the vendor or its proxy is
#: briefly unhappy). Other 4xx mean our request is wrong and retrying cannot help.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class RetryableResponse(Exception):
    """A response that may succeed if asked again, with the vendor's own wait if it gave one."""

    def __init__(self, status: int, retry_after: float | None, body_excerpt: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.body_excerpt = body_excerpt


class RetryableTransportError(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def retry_after_from_headers(
    headers: Mapping[str, str], names: Iterable[str], now: datetime
) -> float | None:
    """The first parseable wait among the vendor's retry headers, in the order declared."""
    for name in names:
        seconds = parse_retry_after(headers.get(name), now)
        if seconds is not None:
            return seconds
    return None


@dataclass(slots=True)
class RetryPolicy:
    """Bounded retries: by attempts and by the total time spent waiting between them."""

    max_attempts: int = 6
    max_total_wait: float = 120.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def wait_seconds(self, state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RetryableResponse) and error.retry_after is not None:
            return error.retry_after
        # Full jitter (AWS architecture blog): spreads a herd of clients evenly.
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (state.attempt_number - 1))
        return self.rng.uniform(0, ceiling)

    def should_stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        upcoming = state.upcoming_sleep or 0.0
        return state.idle_for + upcoming > self.max_total_wait

    def retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type((RetryableResponse, RetryableTransportError)),
            wait=self.wait_seconds,
            stop=self.should_stop,
            sleep=self.sleep,
            reraise=True,
        )
