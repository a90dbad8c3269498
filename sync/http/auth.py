"""Auth schemes shared by several vendors (each connector's ``auth.py`` picks one)."""

from __future__ import annotations

from collections.abc import Generator

import httpx


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` (Jira OAuth, Asana, PingCode)."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request
