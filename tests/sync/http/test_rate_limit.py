"""The client-side limiter paces requests to the declared budget without real waiting."""

import pytest

from sync.http.rate_limit import RateLimit, RateLimiter


class ManualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_requests_within_budget_do_not_wait() -> None:
    time = ManualTime()
    limiter = RateLimiter(RateLimit(3, 10.0), clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        await limiter.acquire()
    assert time.slept == []


async def test_request_over_budget_waits_until_the_oldest_leaves_the_window() -> None:
    time = ManualTime()
    limiter = RateLimiter(RateLimit(2, 10.0), clock=time.clock, sleep=time.sleep)
    await limiter.acquire()
    time.now = 4.0
    await limiter.acquire()
    await limiter.acquire()  # the first left the window at t=10
    assert time.slept == [6.0]
    assert time.now == 10.0


async def test_hundred_requests_at_ten_per_second_take_nine_seconds_of_pacing() -> None:
    time = ManualTime()
    limiter = RateLimiter(RateLimit(10, 1.0), clock=time.clock, sleep=time.sleep)
    for _ in range(100):
        await limiter.acquire()
    assert time.now == pytest.approx(9.0)


def test_a_budget_needs_a_positive_window() -> None:
    with pytest.raises(ValueError, match="positive window"):
        RateLimit(0, 1.0)
