"""Trello credentials -> ``httpx.Auth`` (FACTS.md §2.1).

Trello authenticates with two query parameters, ``key`` (the Power-Up's API key) and ``token``
(a member's token); the spec's ``securitySchemes`` are ``APIKey``/``APIToken``, both ``in:
query``. The header form ``Authorization: OAuth oauth_consumer_key=...`` is UNVERIFIED
(FACTS.md §2.1), so it is not used.

Query-string credentials end up in request URLs, so they must never reach a message: the shared
client names failures by method and path only (never the URL), and this auth object redacts
itself in ``repr``. The application ``secret`` (for webhook signatures) is not a request
credential; the webhook receiver passes it to ``verify_webhook``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping

import httpx

from sync.errors import InvalidRequest

#: Credential names a Trello connection needs.
REQUIRED = ("key", "token")


def check_credentials(credentials: Mapping[str, str]) -> None:
    missing = [name for name in REQUIRED if not credentials.get(name)]
    if missing:
        raise InvalidRequest(
            "a Trello connection needs the Power-Up API key and a member token "
            f"(credentials key and token); missing: {', '.join(missing)}",
            field="credentials",
        )


class KeyTokenAuth(httpx.Auth):
    """Adds ``key`` and ``token`` to every request's query string."""

    def __init__(self, key: str, token: str) -> None:
        self._params = {"key": key, "token": token}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params(self._params)
        yield request

    def __repr__(self) -> str:
        return "KeyTokenAuth(key=<redacted>, token=<redacted>)"


def auth_for(credentials: Mapping[str, str]) -> httpx.Auth:
    check_credentials(credentials)
    return KeyTokenAuth(credentials["key"], credentials["token"])
