"""GET /v1/progress: where the work stands, grouped by tool, project, assignee or milestone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from api.auth import require
from api.deps import get_services, get_session
from api.filters import ItemQuery
from api.progress.schemas import ProgressOut
from api.services import Services
from insights.progress import progress
from sync.store.keys import Scope
from sync.store.queries import GroupBy

router = APIRouter(prefix="/v1", tags=["progress"], dependencies=[Depends(require(Scope.READ))])


@router.get("/progress", response_model=ProgressOut, summary="Consolidated progress")
def get_progress(
    filters: Annotated[ItemQuery, Depends()],
    session: Annotated[Session, Depends(get_session)],
    services: Annotated[Services, Depends(get_services)],
    group_by: Annotated[GroupBy, Query()] = GroupBy.TOOL,
) -> ProgressOut:
    report = progress(session, group_by, filters.items(), now=services.clock())
    return ProgressOut.model_validate(report, from_attributes=True)
