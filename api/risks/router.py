"""/v1/risks: live signals, the register (write scope to change it), history, the matrix;
/v1/goals/{id}/risks: a goal's risks and signals with its rollup status, and its thresholds.

Signals are computed on every request, so their listing is one response (JSON or CSV), not
cursor pages; the register pages like every other listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.auth import require
from api.deps import get_services, get_session
from api.filters import IdPath, id_values, split_values
from api.listing import Format, csv_response, decode_cursor, encode_cursor, wants_csv
from api.risks.schemas import (
    RISK_CSV_COLUMNS,
    SIGNAL_CSV_COLUMNS,
    GoalRisksOut,
    GoalRollupOut,
    GoalThresholdsOut,
    HistoryOut,
    MatrixOut,
    PromoteIn,
    RiskIn,
    RiskOut,
    RiskPage,
    RiskPatch,
    SignalList,
    SignalOut,
    ThresholdsIn,
    ThresholdsOut,
)
from api.services import Services
from insights.risks import goal_view, register
from insights.risks.goal_facts import GoalFacts, StoreGoalFacts
from insights.risks.live import SignalQuery, live_signals
from insights.risks.matrix import risk_matrix
from insights.risks.register import RiskQuery, RiskStatus
from insights.risks.settings import RiskSettings, Severity
from insights.risks.signals import SignalKind
from sync.errors import InvalidRequest
from sync.store.keys import Scope

router = APIRouter(prefix="/v1", tags=["risks"])
READ = [Depends(require(Scope.READ))]
WRITE = [Depends(require(Scope.WRITE))]

Ids = Annotated[list[str] | None, Query(description="id(s), repeated or comma-separated")]
FormatParam = Annotated[Format | None, Query(alias="format", description="json or csv")]


@dataclass(frozen=True, slots=True)
class Context:
    """One request's view: its session, one reading of the clock, settings, goals, caller."""

    session: Session
    now: datetime
    settings: RiskSettings
    goals: GoalFacts
    actor: str | None


async def get_risk_settings(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> RiskSettings:
    """``Settings.risk`` with its domain types, built once per application."""
    state = request.app.state
    settings: RiskSettings | None = getattr(state, "risk_settings", None)
    if settings is None:
        settings = state.risk_settings = RiskSettings.of(services.settings.risk)
    return settings


def get_context(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    services: Annotated[Services, Depends(get_services)],
    settings: Annotated[RiskSettings, Depends(get_risk_settings)],
) -> Context:
    now = services.clock()
    actor = getattr(request.state, "api_key", None)
    return Context(session, now, settings, StoreGoalFacts(session, now=now), actor)


Ctx = Annotated[Context, Depends(get_context)]


E = TypeVar("E", SignalKind, Severity, RiskStatus)


def _choices(values: list[str] | None, kind: type[E], field: str) -> list[E]:
    result = []
    for part in split_values(values):
        try:
            result.append(kind(part))
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise InvalidRequest(
                f"{field}: {part!r} is not one of {allowed}", field=field
            ) from None
    return result


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidRequest(f"{field} needs a time zone, e.g. 2026-11-01T00:00:00Z", field=field)
    return value


# -- signals -------------------------------------------------------------------------------
@router.get(
    "/risks/signals",
    response_model=SignalList,
    dependencies=READ,
    summary="Risk signals computed from the synced data, with the risks covering them",
)
def list_signals(
    request: Request,
    ctx: Ctx,
    goal: Ids = None,
    connection: Ids = None,
    project: Ids = None,
    kind: Annotated[list[str] | None, Query(description="signal kind(s)")] = None,
    severity: Annotated[list[str] | None, Query(description="low, medium, high, critical")] = None,
    unmanaged: Annotated[
        bool | None, Query(description="true: only signals no open risk covers")
    ] = None,
    format_: FormatParam = None,
) -> SignalList | Response:
    query = SignalQuery(
        goal_ids=id_values(goal, "goal"),
        connection_ids=id_values(connection, "connection"),
        project_ids=id_values(project, "project"),
        kinds=_choices(kind, SignalKind, "kind"),
        severities=_choices(severity, Severity, "severity"),
        unmanaged=unmanaged,
    )
    report = live_signals(
        ctx.session, query, now=ctx.now, settings=ctx.settings, goal_facts=ctx.goals
    )
    data = [SignalOut.of(s) for s in report.signals]
    if wants_csv(request, format_):
        return csv_response(
            [d.csv_row() for d in data], SIGNAL_CSV_COLUMNS, next_cursor=None, name="risk_signals"
        )
    return SignalList(
        as_of=report.as_of,
        count=len(data),
        unmanaged=sum(1 for d in data if not d.managed),
        data=data,
    )


@router.post(
    "/risks/from-signal",
    response_model=RiskOut,
    status_code=201,
    dependencies=WRITE,
    summary="Promote a live signal into the register (its suggestions, overridable)",
)
def promote_signal(body: PromoteIn, ctx: Ctx) -> RiskOut:
    view = register.promote(
        ctx.session,
        body.signal_key,
        body.changes(),
        [(link.target_type.value, link.target_id) for link in body.links],
        now=ctx.now,
        actor=ctx.actor,
        settings=ctx.settings,
        goal_facts=ctx.goals,
        goal_id=body.goal_id,
    )
    ctx.session.commit()
    return RiskOut.model_validate(view)


# -- matrix --------------------------------------------------------------------------------
@router.get(
    "/risks/matrix",
    response_model=MatrixOut,
    dependencies=READ,
    summary="5 x 5 probability x impact grids of open risks: inherent and residual",
)
def get_matrix(ctx: Ctx, goal: Ids = None) -> MatrixOut:
    matrix = risk_matrix(
        ctx.session,
        goal_ids=id_values(goal, "goal"),
        now=ctx.now,
        settings=ctx.settings,
        goal_facts=ctx.goals,
    )
    return MatrixOut.model_validate(matrix)


# -- the register --------------------------------------------------------------------------
@router.get(
    "/risks", response_model=RiskPage, dependencies=READ, summary="The risk register, paged"
)
def list_risks(
    request: Request,
    ctx: Ctx,
    services: Annotated[Services, Depends(get_services)],
    status: Annotated[list[str] | None, Query(description="open, closed")] = None,
    severity: Annotated[list[str] | None, Query(description="low, medium, high, critical")] = None,
    owner: Annotated[list[str] | None, Query()] = None,
    category: Annotated[list[str] | None, Query()] = None,
    goal: Annotated[
        list[str] | None, Query(description="linked to the goal, or to its items or milestones")
    ] = None,
    review_overdue: Annotated[
        bool, Query(description="only open risks past their review date")
    ] = False,
    updated_since: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=1, description="rows per page")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    format_: FormatParam = None,
) -> RiskPage | Response:
    size = min(limit or services.settings.api_page_default, services.settings.api_page_max)
    query = RiskQuery(
        statuses=[s.value for s in _choices(status, RiskStatus, "status")],
        severities=_choices(severity, Severity, "severity"),
        owners=split_values(owner),
        categories=split_values(category),
        goal_ids=id_values(goal, "goal"),
        review_overdue=review_overdue,
        updated_since=_aware(updated_since, "updated_since"),
    )
    views = register.list_risks(
        ctx.session,
        query,
        after_id=decode_cursor(cursor),
        limit=size + 1,
        now=ctx.now,
        settings=ctx.settings,
        goal_facts=ctx.goals,
    )
    more = len(views) > size
    data = [RiskOut.model_validate(v) for v in views[:size]]
    next_cursor = encode_cursor(data[-1].id) if more and data else None
    if wants_csv(request, format_):
        return csv_response(
            [d.csv_row() for d in data], RISK_CSV_COLUMNS, next_cursor=next_cursor, name="risks"
        )
    return RiskPage(data=data, next_cursor=next_cursor)


@router.post(
    "/risks",
    response_model=RiskOut,
    status_code=201,
    dependencies=WRITE,
    summary="Enter a risk (a contingency plan is required at or above the high band)",
)
def create_risk(body: RiskIn, ctx: Ctx) -> RiskOut:
    view = register.create_risk(
        ctx.session,
        body.values(),
        [(link.target_type.value, link.target_id) for link in body.links],
        now=ctx.now,
        actor=ctx.actor,
        settings=ctx.settings,
        goal_facts=ctx.goals,
    )
    ctx.session.commit()
    return RiskOut.model_validate(view)


@router.get(
    "/risks/{risk_id}",
    response_model=RiskOut,
    dependencies=READ,
    summary="One risk, and whether the signal it came from still fires",
)
def get_risk(risk_id: IdPath, ctx: Ctx) -> RiskOut:
    view = register.load_risk(
        ctx.session,
        risk_id,
        now=ctx.now,
        settings=ctx.settings,
        goal_facts=ctx.goals,
        with_signal=True,
    )
    return RiskOut.model_validate(view)


@router.patch(
    "/risks/{risk_id}",
    response_model=RiskOut,
    dependencies=WRITE,
    summary="Change a risk; every change is kept in its history",
)
def update_risk(risk_id: IdPath, body: RiskPatch, ctx: Ctx) -> RiskOut:
    links = None
    if "links" in body.model_fields_set:
        links = [(link.target_type.value, link.target_id) for link in body.links or []]
    view = register.update_risk(
        ctx.session,
        risk_id,
        body.changes(),
        links,
        now=ctx.now,
        actor=ctx.actor,
        settings=ctx.settings,
        goal_facts=ctx.goals,
    )
    ctx.session.commit()
    return RiskOut.model_validate(view)


@router.get(
    "/risks/{risk_id}/history",
    response_model=HistoryOut,
    dependencies=READ,
    summary="Every change to a risk: who, when, what (oldest first)",
)
def get_history(risk_id: IdPath, ctx: Ctx) -> HistoryOut:
    rows = register.risk_history(ctx.session, risk_id)
    return HistoryOut.model_validate({"risk_id": risk_id, "data": rows}, from_attributes=True)


# -- goals ---------------------------------------------------------------------------------
@router.get(
    "/goals/{goal_id}/risks",
    response_model=GoalRisksOut,
    dependencies=READ,
    summary="A goal's register entries and live signals, with its rollup status",
)
def get_goal_risks(goal_id: IdPath, ctx: Ctx) -> GoalRisksOut:
    view = goal_view.goal_risks(
        ctx.session, goal_id, now=ctx.now, settings=ctx.settings, goal_facts=ctx.goals
    )
    return GoalRisksOut(
        goal_id=view.goal_id,
        title=view.title,
        as_of=view.as_of,
        rollup=GoalRollupOut.model_validate(view.rollup),
        thresholds=ThresholdsOut.model_validate(view.thresholds),
        open_risks=view.open_risks,
        review_overdue=view.review_overdue,
        unmanaged_signals=view.unmanaged_signals,
        risks=[RiskOut.model_validate(r) for r in view.risks],
        signals=[SignalOut.of(s) for s in view.signals],
    )


@router.get(
    "/goals/{goal_id}/risk-thresholds",
    response_model=GoalThresholdsOut,
    dependencies=READ,
    summary="The signal thresholds in force for a goal, and its overrides",
)
def get_goal_thresholds(goal_id: IdPath, ctx: Ctx) -> GoalThresholdsOut:
    found = goal_view.thresholds_of(
        ctx.session, goal_id, settings=ctx.settings, goal_facts=ctx.goals
    )
    return GoalThresholdsOut.model_validate(found)


@router.put(
    "/goals/{goal_id}/risk-thresholds",
    response_model=GoalThresholdsOut,
    dependencies=WRITE,
    summary="Override signal thresholds for a goal (null: follow the global setting)",
)
def put_goal_thresholds(goal_id: IdPath, body: ThresholdsIn, ctx: Ctx) -> GoalThresholdsOut:
    found = goal_view.set_thresholds(
        ctx.session,
        goal_id,
        body.model_dump(),
        now=ctx.now,
        actor=ctx.actor,
        settings=ctx.settings,
        goal_facts=ctx.goals,
    )
    ctx.session.commit()
    return GoalThresholdsOut.model_validate(found)
