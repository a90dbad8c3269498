"""Bearer API keys with scopes. Webhooks never come through here: vendors sign them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.deps import get_services, get_session
from api.services import Services
from sync.store import keys
from sync.store.keys import Scope

bearer = HTTPBearer(auto_error=False, description="An API key from `pmbridge keys create`")


def require(scope: Scope) -> Callable[..., Iterator[None]]:
    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        session: Session = Depends(get_session),  # noqa: B008
        services: Services = Depends(get_services),  # noqa: B008
    ) -> Iterator[None]:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401,
                "missing API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        row = keys.authenticate(session, credentials.credentials, now=services.clock())
        if row is None:
            raise HTTPException(
                401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        if scope not in keys.granted(row):
            raise HTTPException(403, f"this API key lacks the {scope.value!r} scope")
        if session.dirty:
            # Only when "last used" moved (at most once a minute per key): otherwise the
            # request keeps its one connection instead of checking out a second.
            session.commit()
        request.state.api_key = row.name
        yield

    return dependency
