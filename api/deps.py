"""Request-scoped dependencies: the services and one database session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.services import Services

T = TypeVar("T")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    # ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, and a hop to a
    # thread costs far more than this attribute lookup.
    return services_of(request)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session that connects on first use (in the endpoint's thread). Closing hands the
    connection back to the pool, which talks to the database: that happens off the event
    loop, and only when the request did use the database."""
    session = services_of(request).sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


async def in_session(services: Services, work: Callable[[Session], T]) -> T:
    """Run ``work`` with a session of its own, all in one worker thread.

    For hot ``async`` read endpoints: a plain ``def`` endpoint with a session dependency
    crosses to a worker thread three times (endpoint, response validation, closing the
    session); this crosses once.
    """

    def run() -> T:
        with services.sessions() as session:
            return work(session)

    return await run_in_threadpool(run)
