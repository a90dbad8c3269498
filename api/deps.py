"""Request-scoped dependencies: the services and one database session per request."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from api.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_session(request: Request) -> Iterator[Session]:
    with get_services(request).sessions() as session:
        yield session
