"""Jira Cloud credentials -> ``httpx.Auth`` (FACTS.md §1.1)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from sync.errors import InvalidRequest
from sync.http.auth import BearerAuth


def check_credentials(credentials: Mapping[str, str]) -> None:
    """Basic ``email`` + ``api_token`` (site URL), or an OAuth ``access_token``
    (``https://api.atlassian.com/ex/jira/{cloudId}`` base URL)."""
    if credentials.get("access_token"):
        return
    missing = [name for name in ("email", "api_token") if not credentials.get(name)]
    if missing:
        raise InvalidRequest(
            "a Jira connection needs email and api_token (or an OAuth access_token); "
            f"missing: {', '.join(missing)}",
            field="credentials",
        )


def is_oauth(credentials: Mapping[str, str]) -> bool:
    """A bearer-token connection, taken to be an OAuth 2.0 app's: only apps may register
    Jira's dynamic webhooks (FACTS.md §1.5); Basic-auth connections use admin webhooks."""
    return bool(credentials.get("access_token"))


def auth_for(credentials: Mapping[str, str]) -> httpx.Auth:
    check_credentials(credentials)
    if is_oauth(credentials):
        return BearerAuth(credentials["access_token"])
    return httpx.BasicAuth(credentials["email"], credentials["api_token"])
