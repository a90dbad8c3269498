"""Admin API: connections, sync triggers, sync runs. Needs an ``admin`` key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from sqlalchemy.orm import Session

from api.admin.schemas import ConnectionIn, ConnectionOut, SyncRunOut
from api.auth import require
from api.deps import get_services, get_session
from api.filters import IdPath
from api.services import Services
from sync.engine.connections import add_connection
from sync.engine.runner import execute_run, prepare_run
from sync.model import SyncKind
from sync.store import connections as connection_store
from sync.store import runs
from sync.store.keys import Scope
from sync.store.tables import SyncRun

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require(Scope.ADMIN))])


@router.post("/connections", response_model=ConnectionOut, status_code=201)
def create_connection(
    body: ConnectionIn,
    session: Annotated[Session, Depends(get_session)],
    services: Annotated[Services, Depends(get_services)],
) -> ConnectionOut:
    connection = add_connection(
        session,
        services.box,
        name=body.name,
        tool=body.tool,
        base_url=body.base_url,
        credentials={k: v.get_secret_value() for k, v in body.credentials.items()},
        scope=body.scope,
        options=body.options,
        now=services.clock(),
    )
    session.commit()
    return ConnectionOut.model_validate(connection)


@router.get("/connections", response_model=list[ConnectionOut])
def list_connections(session: Annotated[Session, Depends(get_session)]) -> list[ConnectionOut]:
    return [ConnectionOut.model_validate(c) for c in connection_store.list_connections(session)]


@router.get("/connections/{connection_id}", response_model=ConnectionOut)
def get_connection(
    connection_id: IdPath, session: Annotated[Session, Depends(get_session)]
) -> ConnectionOut:
    return ConnectionOut.model_validate(connection_store.get_connection(session, connection_id))


@router.post("/connections/{connection_id}/sync", response_model=SyncRunOut, status_code=202)
def trigger_sync(
    connection_id: IdPath,
    background: BackgroundTasks,
    session: Annotated[Session, Depends(get_session)],
    services: Annotated[Services, Depends(get_services)],
    kind: Annotated[SyncKind, Query()] = SyncKind.INCREMENTAL,
) -> SyncRunOut:
    """Start a run now; it continues after the response. Poll ``/admin/sync-runs``."""
    run_id = prepare_run(services.sync, connection_id, kind)
    background.add_task(execute_run, services.sync, run_id)
    return SyncRunOut.model_validate(session.get_one(SyncRun, run_id))


@router.get("/sync-runs", response_model=list[SyncRunOut])
def list_sync_runs(
    session: Annotated[Session, Depends(get_session)],
    connection: Annotated[int | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[SyncRunOut]:
    return [
        SyncRunOut.model_validate(r)
        for r in runs.list_runs(session, connection_id=connection, limit=limit)
    ]
