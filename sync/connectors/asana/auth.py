"""Asana credentials -> ``httpx.Auth`` (FACTS.md §3.1).

A personal access token and an OAuth access token are both sent as
``Authorization: Bearer <token>``; refreshing an OAuth token is not the connector's job.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from sync.errors import InvalidRequest
from sync.http.auth import BearerAuth


def check_credentials(credentials: Mapping[str, str]) -> None:
    if not credentials.get("access_token"):
        raise InvalidRequest(
            "an Asana connection needs an access_token (a personal access token or an OAuth "
            "access token); missing: access_token",
            field="credentials",
        )


def auth_for(credentials: Mapping[str, str]) -> httpx.Auth:
    check_credentials(credentials)
    return BearerAuth(credentials["access_token"])
