"""PingCode client credentials -> an enterprise bearer token (FACTS.md §5.1).

``GET {rest_api_root}/v1/auth/token?grant_type=client_credentials&client_id=…&client_secret=…``
answers ``{"access_token", "token_type": "Bearer", "expires_in"}``; the token is valid for 30
days and every API request sends ``authorization: Bearer <token>``.

:class:`PingCodeTokenAuth` does this inside httpx's auth flow: it yields the token request
itself (so the shared client's transport, pacing and retries carry it), caches the token until
shortly before expiry by an injectable clock, and on a 401 refreshes once and resends. Neither
the token nor the secret is ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import ValidationError

from sync.connectors.pingcode.payloads import PingCodeError, PingCodeToken
from sync.errors import ContractBroken, CredentialsRejected, InvalidRequest
from sync.model import Tool

TOKEN_PATH = "/v1/auth/token"  # noqa: S105 - a path, not a password
TOKEN_ENDPOINT = f"GET {TOKEN_PATH}"
REQUIRED = ("client_id", "client_secret")
EXPIRES_IN_UNITS = ("auto", "seconds", "epoch")
#: ``expires_in`` values past this read as an absolute epoch time in ``auto`` mode (10 digits).
_EPOCH_FLOOR = 1_000_000_000
#: Query parameters that must never reach a log line.
UtcClock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_credentials(credentials: Mapping[str, str]) -> None:
    missing = [name for name in REQUIRED if not credentials.get(name)]
    if missing:
        raise InvalidRequest(
            "a PingCode connection needs the client_id and client_secret of an app created "
            f"under 凭据管理 (credential management); missing: {', '.join(missing)}",
            field="credentials",
        )


def auth_for(
    base_url: str,
    credentials: Mapping[str, str],
    options: Mapping[str, Any] | None = None,
    *,
    clock: UtcClock = utc_now,
) -> PingCodeTokenAuth:
    check_credentials(credentials)
    unit = (options or {}).get("token_expires_in")
    return PingCodeTokenAuth(
        base_url=base_url,
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
        clock=clock,
        expires_in_unit=str(unit) if unit else None,
    )


class PingCodeTokenAuth(httpx.Auth):
    """Client-credentials bearer auth with a cached, self-refreshing enterprise token."""

    #: FACTS.md §5.1: an enterprise token is valid for 30 days; assumed when ``expires_in``
    #: is missing.
    default_lifetime: ClassVar[timedelta] = timedelta(days=30)
    #: Fetch a new token this long before the old one expires.
    refresh_margin: ClassVar[timedelta] = timedelta(minutes=10)
    # FACTS.md §5.1 names ``expires_in`` but not its unit. The docs' own example answers
    # ``"expires_in": 1577808000``, an absolute epoch time (PingCode Open API, 鉴权 / 获取企业令牌,
    # checked 2026-11-27 in a verbatim docs mirror), so "auto" reads values past 1e9 as epochs
    # and smaller ones as OAuth's lifetime in seconds; "seconds"/"epoch" force one reading.
    expires_in_unit: ClassVar[str] = "auto"

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        clock: UtcClock = utc_now,
        expires_in_unit: str | None = None,
        token_path: str = TOKEN_PATH,
    ) -> None:
        unit = expires_in_unit or self.expires_in_unit
        if unit not in EXPIRES_IN_UNITS:
            raise InvalidRequest(
                f"option token_expires_in must be one of {', '.join(EXPIRES_IN_UNITS)}",
                field="options.token_expires_in",
            )
        self._unit = unit
        self._token_url = base_url.rstrip("/") + token_path
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at: datetime | None = None
        #: Token requests made, for tests and run statistics (never the token itself).
        self.token_requests = 0

    def __repr__(self) -> str:
        return f"PingCodeTokenAuth(token_url={self._token_url!r})"

    @property
    def expires_at(self) -> datetime | None:
        """When the cached token will be refreshed (None before the first one)."""
        return self._refresh_at

    def invalidate(self) -> None:
        self._token = None
        self._refresh_at = None

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("PingCodeTokenAuth is async-only: use it with httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        fetched = False
        async with self._lock:
            if not self._usable():
                reply = yield self._token_request()
                if not await self._accept(reply):
                    return  # a 429/5xx at the token endpoint: the shared client retries it
                fetched = True
            token = self._token
        assert token is not None
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401 or fetched:
            return
        # The cached token was refused (expired early, app secret reset): refresh once.
        async with self._lock:
            if self._token == token:
                self.invalidate()
                reply = yield self._token_request()
                if not await self._accept(reply):
                    return
            token = self._token
        assert token is not None
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _usable(self) -> bool:
        return (
            self._token is not None
            and self._refresh_at is not None
            and self._clock() < self._refresh_at
        )

    def _token_request(self) -> httpx.Request:
        self.token_requests += 1
        return httpx.Request(
            "GET",
            self._token_url,
            params={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
            headers={"Accept": "application/json", "User-Agent": "pmbridge/0.1"},
        )

    async def _accept(self, response: httpx.Response) -> bool:
        """Cache the token from a 2xx; False hands a retryable answer back to the client."""
        status = response.status_code
        if status == 429 or status >= 500:
            return False
        await response.aread()
        if 400 <= status < 500:
            raise CredentialsRejected(
                f"PingCode refused the client credentials (HTTP {status}) at {TOKEN_ENDPOINT}",
                tool=Tool.PINGCODE.value,
                endpoint=TOKEN_ENDPOINT,
                status=status,
                vendor_code=_vendor_code(response.content),
            )
        if not response.is_success:
            return False
        try:
            token = PingCodeToken.model_validate(json.loads(response.content))
        except (ValueError, ValidationError):
            raise ContractBroken(
                f"PingCode answered {TOKEN_ENDPOINT} without an access_token",
                tool=Tool.PINGCODE.value,
                endpoint=TOKEN_ENDPOINT,
                status=status,
            ) from None
        now = self._clock()
        lifetime = self._lifetime(token.expires_in, now)
        margin = min(self.refresh_margin, lifetime / 2)
        self._token = token.access_token
        self._refresh_at = now + lifetime - margin
        return True

    def _lifetime(self, expires_in: float | None, now: datetime) -> timedelta:
        if expires_in is None or expires_in <= 0:
            return self.default_lifetime
        is_epoch = self._unit == "epoch" or (self._unit == "auto" and expires_in > _EPOCH_FLOOR)
        if is_epoch:
            remaining = datetime.fromtimestamp(expires_in, UTC) - now
            return max(remaining, timedelta(0))
        return timedelta(seconds=expires_in)


def _vendor_code(body: bytes) -> str | None:
    try:
        error = PingCodeError.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        return None
    return None if error.code is None else str(error.code)
