"""The FastAPI application: routers, error handlers, health and readiness."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api import errors
from api.admin.router import router as admin_router
from api.deps import get_services
from api.items.router import router as items_router
from api.progress.router import router as progress_router
from api.services import Services
from sync.store.migrate import pending

DESCRIPTION = """
pmbridge consolidates projects, work items and milestones from Jira, Trello, Asana, Worktile
and PingCode. Every route except `/healthz` and `/readyz` needs `Authorization: Bearer <key>`
(`pmbridge keys create`). Times are ISO 8601 UTC; listings page with `limit`/`cursor` and
answer CSV for `format=csv` or `Accept: text/csv`.
"""


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="pmbridge", version="0.1.0", description=DESCRIPTION)
    app.state.services = services
    errors.install(app)
    # Webhook receivers first: they take the most requests, vendors time them, and FastAPI
    # tries the routes in order (an included router's routes one by one, whatever its
    # prefix). Their paths overlap no other router's. Vendor-signed, no API key.
    from api.webhooks.router import router as webhooks_router

    app.include_router(webhooks_router)
    app.include_router(items_router)
    app.include_router(progress_router)
    from api.goals.router import router as goals_router  # SMART goals

    app.include_router(goals_router)
    from api.risks.router import router as risks_router  # risk signals, register, matrix

    app.include_router(risks_router)
    app.include_router(admin_router)
    from api.admin.webhooks_router import router as admin_webhooks_router

    app.include_router(admin_webhooks_router)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Database reachable and migrated")
    def readyz(services: Annotated[Services, Depends(get_services)]) -> Any:
        try:
            with services.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            behind = pending(services.engine)
        except Exception as error:  # readiness reports, it never raises
            return JSONResponse(
                {"status": "unavailable", "database": f"{type(error).__name__}"}, status_code=503
            )
        if behind:
            return JSONResponse(
                {"status": "unavailable", "database": "ok", "migrations": "pending"},
                status_code=503,
            )
        return {"status": "ok", "database": "ok", "migrations": "current"}

    return app
