"""The only place that builds an ``httpx.AsyncClient`` for a vendor.

A connector gets a ``VendorClient`` and asks it for JSON. Everything between that call and the
wire lives here: the base-URL safety rule, auth, client-side pacing, retries with
``Retry-After``, pagination, error classification and request counting.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import orjson

from sync.errors import (
    AccessLost,
    ContractBroken,
    CredentialsRejected,
    InsecureBaseUrl,
    RateLimited,
    VendorError,
    VendorUnavailable,
)
from sync.http import redaction
from sync.http.pagination import Paginator
from sync.http.rate_limit import RateLimit, RateLimiter
from sync.http.retry import (
    RETRYABLE_STATUSES,
    RetryableResponse,
    RetryableTransportError,
    RetryPolicy,
    retry_after_from_headers,
)

redaction.install()

Params = Mapping[str, str | int | float | bool | Sequence[str]]
UtcClock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class VendorNotFound(VendorError):
    """404: the thing asked for does not exist or is not visible to these credentials."""

    action = "the record is gone or hidden from this connection"


class VendorRejected(VendorError):
    """A 4xx other than auth, not-found and throttling: our request is wrong for this vendor."""

    action = "check the connection's configuration (scope, fields); the request was refused"


def check_base_url(url: str) -> str:
    """Refuse base URLs that would send credentials in clear text over a network.

    ``https`` is always fine; plain ``http`` only to loopback (simulators and tests).
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InsecureBaseUrl(f"base URL {url!r} must be an absolute http(s) URL", base_url=url)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InsecureBaseUrl(
            f"base URL {url!r} uses plain http to a non-loopback host; "
            "credentials would cross the network in clear text. Use https.",
            base_url=url,
        )
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (the only plain-http targets we allow)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class VendorClient:
    """One connection's HTTP client. Build it with :meth:`open`; use it as a context manager."""

    def __init__(
        self,
        *,
        tool: str,
        base_url: str,
        rate_limit: RateLimit,
        auth: httpx.Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        retry_after_headers: Sequence[str] = ("Retry-After",),
        throttle_wait: float | None = None,
        timeout: httpx.Timeout | None = None,
        headers: Mapping[str, str] | None = None,
        clock: UtcClock = utc_now,
    ) -> None:
        self.tool = tool
        self.base_url = check_base_url(base_url)
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter(rate_limit, sleep=self.retry.sleep)
        self.retry_after_headers = tuple(retry_after_headers)
        #: Wait after a 429 that names none (Trello says only "limit exceeded" in the body:
        #: the rest of its window is the honest wait).
        self.throttle_wait = throttle_wait
        self._clock = clock
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            transport=transport,
            timeout=timeout or httpx.Timeout(60.0, connect=10.0),
            headers={"Accept": "application/json", "User-Agent": "pmbridge/0.1", **(headers or {})},
            follow_redirects=False,
        )
        #: Requests put on the wire, retries included: sync runs record it.
        self.requests = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        creates: bool = False,
    ) -> httpx.Response:
        """Send with pacing and retries; return a 2xx response or raise a classified error.

        ``creates``: the request makes something at the vendor (a webhook), so asking twice
        could make it twice. It is retried only when the vendor surely did not act on it: a
        429, or a connection that never opened. A 5xx or a timeout may come after the vendor
        acted: that is the caller's error to see, not a silent second try."""
        endpoint = f"{method} {path}"
        try:
            async for attempt in self.retry.retrying():
                with attempt:
                    return await self._send_once(
                        method, path, params, json_body, headers, creates=creates
                    )
        except RetryableResponse as final:
            raise self._after_retries(final, endpoint) from None
        except RetryableTransportError as final:
            raise VendorUnavailable(
                f"{self.tool} unreachable at {endpoint}: {final}",
                tool=self.tool,
                endpoint=endpoint,
            ) from final.cause
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def get_json(self, path: str, *, params: Params | None = None) -> Any:
        response = await self.request("GET", path, params=params)
        return self.decode(response, f"GET {path}")

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        creates: bool = False,
    ) -> Any:
        response = await self.request(
            method, path, params=params, json_body=json_body, creates=creates
        )
        return self.decode(response, f"{method} {path}")

    async def paginate(
        self,
        path: str,
        paginator: Paginator,
        *,
        params: Params | None = None,
    ) -> AsyncIterator[Any]:
        """Yield each page's decoded body; the paginator decides what to ask for next."""
        base = dict(params or {})
        page_params: dict[str, Any] | None = paginator.first_params()
        while page_params is not None:
            body = await self.get_json(path, params={**base, **page_params})
            yield body
            page_params = paginator.next_params(body, endpoint=f"GET {path}", tool=self.tool)

    def decode(self, response: httpx.Response, endpoint: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise ContractBroken(
                f"{self.tool} returned a body that is not JSON at {endpoint}",
                tool=self.tool,
                endpoint=endpoint,
                status=response.status_code,
                reason=str(error),
                body_excerpt=_excerpt(response.text),
            ) from None

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Params | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
        *,
        creates: bool,
    ) -> httpx.Response:
        await self.limiter.acquire()
        try:
            self.requests += 1
            response = await self._http.request(
                method, path, params=params, json=json_body, headers=headers
            )
        except httpx.TransportError as error:
            if creates and not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
                raise VendorUnavailable(
                    f"{self.tool} did not answer {method} {path} ({type(error).__name__}); it "
                    "may have acted on it: check before trying again",
                    tool=self.tool,
                    endpoint=f"{method} {path}",
                ) from error
            raise RetryableTransportError(error) from error
        finally:
            self.limiter.release()
        if response.status_code in RETRYABLE_STATUSES and (
            not creates or response.status_code == 429
        ):
            wait = retry_after_from_headers(
                response.headers, self.retry_after_headers, self._clock()
            )
            if wait is None and response.status_code == 429:
                wait = self.throttle_wait
            raise RetryableResponse(response.status_code, wait, _excerpt(response.text))
        if response.is_success:
            return response
        raise self._classify(response, f"{method} {path}")

    def _classify(self, response: httpx.Response, endpoint: str) -> VendorError:
        status = response.status_code
        excerpt = _excerpt(response.text)
        common: dict[str, Any] = {"tool": self.tool, "endpoint": endpoint}
        if status == 401:
            return CredentialsRejected(
                f"{self.tool} rejected the credentials (HTTP 401) at {endpoint}",
                **common,
                status=status,
            )
        if status == 403:
            return AccessLost(
                f"{self.tool} refused access (HTTP 403) at {endpoint}",
                **common,
                status=status,
                body_excerpt=excerpt,
            )
        if status in {404, 410}:
            return VendorNotFound(
                f"{self.tool} has no such resource (HTTP {status}) at {endpoint}",
                **common,
                status=status,
                body_excerpt=excerpt,
            )
        if 400 <= status < 500:
            return VendorRejected(
                f"{self.tool} refused the request (HTTP {status}) at {endpoint}: {excerpt}",
                **common,
                status=status,
                body_excerpt=excerpt,
            )
        return VendorUnavailable(
            f"{self.tool} failed (HTTP {status}) at {endpoint}",
            **common,
            status=status,
            body_excerpt=excerpt,
        )

    def _after_retries(self, final: RetryableResponse, endpoint: str) -> VendorError:
        if final.status == 429:
            wait = final.retry_after if final.retry_after is not None else 60.0
            retry_at = self._clock() + timedelta(seconds=wait)
            return RateLimited(
                f"{self.tool} kept rate-limiting {endpoint}; retry after {retry_at.isoformat()}",
                tool=self.tool,
                endpoint=endpoint,
                retry_at=retry_at,
            )
        return VendorUnavailable(
            f"{self.tool} answered HTTP {final.status} at {endpoint} after retries",
            tool=self.tool,
            endpoint=endpoint,
            status=final.status,
            body_excerpt=final.body_excerpt,
        )


def _excerpt(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
