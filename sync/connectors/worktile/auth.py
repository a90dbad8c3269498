"""Worktile team auth: client id + secret -> a cached tenant token (WORKTILE.md §3.1, §14.2).

:class:`TenantTokenAuth` is an ``httpx.Auth`` whose async flow asks for a token itself (the
token request is yielded to the client that is sending, so nothing here builds a client or
sleeps), puts it on every request as the ``access_token`` query parameter and a bearer header,
and, when Worktile says the token is bad (HTTP 401, or HTTP 200 with ``ok: false`` and an
``error_code`` of 1102/1103), fetches a new one once and sends the request again.

Neither the token nor the secret is ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from sync.connectors.worktile.payloads import WorktileTokenAnswer
from sync.errors import ContractBroken, CredentialsRejected, InvalidRequest
from sync.http.client import VendorRejected
from sync.http.retry import RETRYABLE_STATUSES
from sync.model import Tool

#: WORKTILE.md §3.1 [code C2 commit 1dc1617]: 1102 malformed token, 1103 invalid or expired.
TOKEN_ERROR_CODES: frozenset[int] = frozenset({1102, 1103})
#: Marker searched in a 200 body before parsing it: a token refusal always carries one (§11).
_ERROR_MARKER = b'"error_code"'
#: Statuses of the token endpoint that mean "these credentials are refused". The exact answer
#: for a wrong client id/secret is UNVERIFIED (WORKTILE.md §15); 200 with ``ok: false`` counts
#: too.
_REFUSED = frozenset({400, 401, 403})

MonotonicClock = Callable[[], float]


def check_credentials(credentials: Mapping[str, str]) -> None:
    """Team auth needs the app's ``client_id`` and ``client_secret`` (WORKTILE.md §3.1)."""
    missing = [name for name in ("client_id", "client_secret") if not credentials.get(name)]
    if missing:
        raise InvalidRequest(
            "a Worktile connection needs the app's client_id and client_secret (team auth); "
            f"missing: {', '.join(missing)}",
            field="credentials",
        )


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """Where and how the token is asked for and used; every field is a declared fact."""

    #: ``{base}{api_prefix}{token_path}``; private deployments: UNVERIFIED (WORKTILE.md §2).
    token_url: str
    #: §3.1 [code C2]: refresh once on these ``error_code`` values in an HTTP 200 body.
    error_codes: frozenset[int] = TOKEN_ERROR_CODES
    #: Refresh this long before ``expires_in`` runs out (real lifetime UNVERIFIED, §3.1).
    refresh_margin: float = 300.0
    #: Lifetime assumed when the answer has no ``expires_in`` (§3.1: 7200 is a placeholder).
    default_lifetime: float = 1800.0
    #: §3.1 [doc W1]: the query parameter the docs mark required.
    query_param: str = "access_token"
    #: §3.1 [doc W1 example, code C1]: also send ``Authorization: Bearer``; harmless.
    bearer_header: bool = True


class TenantTokenAuth(httpx.Auth):
    """Tenant-token auth for an ``httpx.AsyncClient``; the expiry clock is injectable."""

    requires_response_body = True

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        settings: TokenSettings,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self.settings = settings
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock: asyncio.Lock | None = None
        #: Tokens obtained so far (observability for tests; never the token itself).
        self.tokens_issued = 0

    def __repr__(self) -> str:
        return f"TenantTokenAuth(token_url={self.settings.token_url!r})"

    # -- httpx.Auth ---------------------------------------------------------------------------
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("TenantTokenAuth needs an httpx.AsyncClient (pmbridge's VendorClient)")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._current()
        if token is None:
            async with self._guard():
                token = self._current()
                if token is None:
                    answer = yield self._token_request()
                    token = await self._accept(answer)
                    if token is None:  # throttled or failing: the client retries the request
                        return
        self._apply(request, token)
        response = yield request
        if not await self._refused(response):
            return
        # Refresh once (WORKTILE.md §3.1): unless a concurrent request already did.
        async with self._guard():
            if self._token == token:
                self.invalidate()
            fresh = self._current()
            if fresh is None:
                answer = yield self._token_request()
                fresh = await self._accept(answer)
                if fresh is None:
                    return
        self._apply(request, fresh)
        yield request

    # -- the token ----------------------------------------------------------------------------
    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0

    def _current(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        return None

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.settings.token_url,
            json={"client_id": self._client_id, "client_secret": self._client_secret},
            headers={"Accept": "application/json"},
        )

    async def _accept(self, response: httpx.Response) -> str | None:
        """The token from the token endpoint's answer; None to let the client retry it."""
        endpoint = f"POST {httpx.URL(self.settings.token_url).path}"
        status = response.status_code
        if status in RETRYABLE_STATUSES or status >= 500:
            return None
        await response.aread()
        if status in _REFUSED:
            raise CredentialsRejected(
                f"Worktile refused the client id/secret (HTTP {status}) at {endpoint}",
                tool=Tool.WORKTILE.value,
                endpoint=endpoint,
                status=status,
            )
        if not response.is_success:
            raise VendorRejected(
                f"Worktile's token endpoint answered HTTP {status} at {endpoint}; "
                "check the base URL and the api_prefix/token_path options",
                tool=Tool.WORKTILE.value,
                endpoint=endpoint,
                status=status,
            )
        try:
            answer = WorktileTokenAnswer.model_validate(json.loads(response.content))
        except (ValueError, ValidationError):
            raise ContractBroken(
                "Worktile's token answer is not a tenant-token object",
                tool=Tool.WORKTILE.value,
                endpoint=endpoint,
                status=status,
            ) from None
        if answer.ok is False or not answer.token:
            if answer.ok is False:
                raise CredentialsRejected(
                    f"Worktile refused the client id/secret at {endpoint}: "
                    f"{answer.error or 'ok: false'} (error_code {answer.error_code})",
                    tool=Tool.WORKTILE.value,
                    endpoint=endpoint,
                    error_code=answer.error_code,
                )
            raise ContractBroken(
                "Worktile's token answer has no tenant_access_token",
                tool=Tool.WORKTILE.value,
                endpoint=endpoint,
                status=status,
            )
        lifetime = float(answer.expires_in or self.settings.default_lifetime)
        margin = min(self.settings.refresh_margin, lifetime / 2)
        self._token = answer.token
        self._expires_at = self._clock() + lifetime - margin
        self.tokens_issued += 1
        return answer.token

    # -- using it -----------------------------------------------------------------------------
    def _apply(self, request: httpx.Request, token: str) -> None:
        request.url = request.url.copy_set_param(self.settings.query_param, token)
        if self.settings.bearer_header:
            request.headers["Authorization"] = f"Bearer {token}"

    async def _refused(self, response: httpx.Response) -> bool:
        """HTTP 401, or HTTP 200 with ``ok: false`` and a token error code (§3.1, §11)."""
        if response.status_code == 401:
            return True
        if response.status_code != 200:
            return False
        await response.aread()
        if _ERROR_MARKER not in response.content:
            return False
        try:
            body = json.loads(response.content)
        except ValueError:
            return False
        return (
            isinstance(body, dict)
            and body.get("ok") is False
            and body.get("error_code") in self.settings.error_codes
        )


def auth_for(
    credentials: Mapping[str, str], settings: TokenSettings, *, clock: MonotonicClock | None = None
) -> TenantTokenAuth:
    check_credentials(credentials)
    return TenantTokenAuth(
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
        settings=settings,
        clock=clock or time.monotonic,
    )
