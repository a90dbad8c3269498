"""Bearer API keys with scopes. Webhooks never come through here: vendors sign them.

A key that authenticated is remembered for ``api_key_cache_seconds`` (default 5) in this
process, so a request pays neither the look-up nor a hop to a worker thread for it. The price:
a key revoked elsewhere keeps working here for at most that long.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.deps import get_services
from api.services import Services
from sync.store import keys
from sync.store.database import unit_of_work
from sync.store.keys import Scope

bearer = HTTPBearer(auto_error=False, description="An API key from `pmbridge keys create`")


@dataclass(frozen=True, slots=True)
class KnownKey:
    name: str
    scopes: frozenset[Scope]
    checked_at: float


class KeyCache:
    """Keys that authenticated lately, by digest; unknown keys are never remembered."""

    def __init__(
        self,
        ttl: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        self.ttl = ttl
        self.monotonic = monotonic
        self.max_keys = max_keys
        self._keys: OrderedDict[str, KnownKey] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> KnownKey | None:
        with self._lock:
            known = self._keys.get(digest)
            if known is None:
                return None
            if self.monotonic() - known.checked_at >= self.ttl:
                del self._keys[digest]
                return None
            return known

    def put(self, digest: str, name: str, scopes: frozenset[Scope]) -> KnownKey:
        known = KnownKey(name, scopes, self.monotonic())
        if self.ttl > 0:
            with self._lock:
                self._keys[digest] = known
                self._keys.move_to_end(digest)
                while len(self._keys) > self.max_keys:
                    self._keys.popitem(last=False)
        return known

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


def key_cache(request: Request, services: Services) -> KeyCache:
    state = request.app.state
    cache: KeyCache | None = getattr(state, "key_cache", None)
    if cache is None:
        cache = state.key_cache = KeyCache(services.settings.api_key_cache_seconds)
    return cache


def _look_up(services: Services, plaintext: str) -> tuple[str, frozenset[Scope]] | None:
    with unit_of_work(services.sessions) as session:
        row = keys.authenticate(session, plaintext, now=services.clock())
        return None if row is None else (row.name, keys.granted(row))


def require(scope: Scope) -> Callable[..., Coroutine[Any, Any, None]]:
    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        services: Services = Depends(get_services),  # noqa: B008
    ) -> None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401,
                "missing API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        cache = key_cache(request, services)
        digest = keys.hash_key(credentials.credentials)
        known = cache.get(digest)
        if known is None:
            found = await run_in_threadpool(_look_up, services, credentials.credentials)
            if found is None:
                raise HTTPException(
                    401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
                )
            known = cache.put(digest, *found)
        if scope not in known.scopes:
            raise HTTPException(403, f"this API key lacks the {scope.value!r} scope")
        request.state.api_key = known.name

    return dependency
