"""GET /v1/projects, /v1/items, /v1/milestones: filtered, cursor-paginated, JSON or CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.auth import require
from api.deps import get_services, get_session
from api.filters import CommonFilters, ItemQuery
from api.items.schemas import (
    ItemOut,
    ItemPage,
    MilestoneOut,
    MilestonePage,
    ProjectOut,
    ProjectPage,
)
from api.listing import Format, csv_response, decode_cursor, page_of, wants_csv
from api.services import Services
from sync.store import queries
from sync.store.keys import Scope

router = APIRouter(prefix="/v1", tags=["data"], dependencies=[Depends(require(Scope.READ))])

Limit = Annotated[int | None, Query(ge=1, description="rows per page")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
FormatParam = Annotated[Format | None, Query(alias="format", description="json or csv")]

CSV_ITEM_COLUMNS = tuple(ItemOut.model_fields)
CSV_PROJECT_COLUMNS = tuple(ProjectOut.model_fields)
CSV_MILESTONE_COLUMNS = tuple(MilestoneOut.model_fields)


def _limit(services: Services, limit: int | None) -> int:
    return min(limit or services.settings.api_page_default, services.settings.api_page_max)


@router.get("/items", response_model=ItemPage, summary="Work items across every tool")
def list_items(
    request: Request,
    filters: Annotated[ItemQuery, Depends()],
    session: Annotated[Session, Depends(get_session)],
    services: Annotated[Services, Depends(get_services)],
    limit: Limit = None,
    cursor: Cursor = None,
    format_: FormatParam = None,
) -> ItemPage | Response:
    size = _limit(services, limit)
    rows = queries.item_rows(
        session, filters.items(), after_id=decode_cursor(cursor), limit=size + 1
    )
    data, next_cursor = page_of(rows, size, ItemOut.model_validate)
    if wants_csv(request, format_):
        return csv_response(
            [d.model_dump() for d in data], CSV_ITEM_COLUMNS, next_cursor=next_cursor, name="items"
        )
    return ItemPage(data=data, next_cursor=next_cursor)


@router.get("/projects", response_model=ProjectPage, summary="Projects, boards and the like")
def list_projects(
    request: Request,
    filters: Annotated[CommonFilters, Depends()],
    session: Annotated[Session, Depends(get_session)],
    services: Annotated[Services, Depends(get_services)],
    limit: Limit = None,
    cursor: Cursor = None,
    format_: FormatParam = None,
) -> ProjectPage | Response:
    size = _limit(services, limit)
    rows = queries.project_rows(
        session, filters.records(), after_id=decode_cursor(cursor), limit=size + 1
    )
    data, next_cursor = page_of(rows, size, ProjectOut.model_validate)
    if wants_csv(request, format_):
        return csv_response(
            [d.model_dump() for d in data],
            CSV_PROJECT_COLUMNS,
            next_cursor=next_cursor,
            name="projects",
        )
    return ProjectPage(data=data, next_cursor=next_cursor)


@router.get("/milestones", response_model=MilestonePage, summary="Milestones with item counts")
def list_milestones(
    request: Request,
    filters: Annotated[CommonFilters, Depends()],
    session: Annotated[Session, Depends(get_session)],
    services: Annotated[Services, Depends(get_services)],
    limit: Limit = None,
    cursor: Cursor = None,
    format_: FormatParam = None,
) -> MilestonePage | Response:
    size = _limit(services, limit)
    rows = queries.milestone_rows(
        session, filters.records(), after_id=decode_cursor(cursor), limit=size + 1
    )
    data, next_cursor = page_of(rows, size, MilestoneOut.model_validate)
    if wants_csv(request, format_):
        return csv_response(
            [d.model_dump() for d in data],
            CSV_MILESTONE_COLUMNS,
            next_cursor=next_cursor,
            name="milestones",
        )
    return MilestonePage(data=data, next_cursor=next_cursor)
