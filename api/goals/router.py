"""/v1/goals: SMART goals across tools. Reading needs a ``read`` key, changing a ``write`` key."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from api.auth import require
from api.deps import get_services, get_session, in_session
from api.filters import MAX_ID, IdPath, enum_values, split_values
from api.goals.schemas import (
    CSV_GOAL_COLUMNS,
    CSV_ROLLUP_COLUMNS,
    ForecastOut,
    GoalIn,
    GoalOut,
    GoalPage,
    GoalPatch,
    HistoryOut,
    MeasurementIn,
    MeasurementOut,
    RollupOut,
    SmartOut,
    SnapshotsOut,
    csv_row,
)
from api.listing import Format, csv_response, decode_cursor, encode_cursor, wants_csv
from api.services import Services
from insights.goals import definitions
from insights.goals.forecast import ForecastSettings, forecast_goal
from insights.goals.history import history, rollup_as_of, take_snapshots
from insights.goals.model import GoalDef, GoalStatus, Metric
from insights.goals.rollup import compute_rollup, compute_rollups
from insights.goals.smart_check import smart_report
from sync.errors import InvalidRequest
from sync.store.goals import GoalFilters
from sync.store.keys import Scope

router = APIRouter(prefix="/v1/goals", tags=["goals"])

READ = [Depends(require(Scope.READ))]
WRITE = [Depends(require(Scope.WRITE))]
SessionDep = Annotated[Session, Depends(get_session)]
ServicesDep = Annotated[Services, Depends(get_services)]
WindowDays = Annotated[int, Query(ge=7, le=365, description="days of completion history resampled")]
Trials = Annotated[int, Query(ge=100, le=20_000, description="Monte Carlo runs")]
Seed = Annotated[int, Query(ge=0, description="the simulation's seed: same seed, same answer")]


def _written(session: Session, goal: GoalDef, services: Services) -> GoalOut:
    """A goal after a write; an active goal carries its SMART check, so activating a goal
    that is not SMART is allowed but says why."""
    smart = None
    if goal.status is GoalStatus.ACTIVE:
        report = smart_report(session, goal.id, now=services.clock())
        smart = SmartOut.model_validate(report, from_attributes=True)
    return GoalOut.of(goal, smart=smart)


def _includes(include: list[str] | None) -> set[str]:
    """What ``include`` asks for; only ``rollup`` exists, anything else is a 422."""
    extras = set(split_values(include))
    if extras - {"rollup"}:
        raise InvalidRequest(
            f"include: {sorted(extras - {'rollup'})} unknown; only rollup", field="include"
        )
    return extras


@router.post(
    "", response_model=GoalOut, status_code=201, dependencies=WRITE, summary="Create a goal"
)
def create_goal(body: GoalIn, session: SessionDep, services: ServicesDep) -> GoalOut:
    goal = definitions.create_goal(session, body.fields(), body.drafts(), now=services.clock())
    session.commit()
    return _written(session, goal, services)


@router.get(
    "",
    response_model=GoalPage,
    dependencies=READ,
    summary="Goals; with include=rollup, the portfolio view (JSON or CSV)",
)
def list_goals(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    status: Annotated[list[str] | None, Query(description="draft, active, ...")] = None,
    metric: Annotated[list[str] | None, Query()] = None,
    owner: Annotated[str | None, Query()] = None,
    parent: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="children of this goal")
    ] = None,
    include: Annotated[list[str] | None, Query(description="rollup")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query()] = None,
    format_: Annotated[Format | None, Query(alias="format")] = None,
) -> GoalPage | Response:
    extras = _includes(include)
    size = min(limit or services.settings.api_page_default, services.settings.api_page_max)
    filters = GoalFilters(
        statuses=enum_values(status, GoalStatus, "status"),
        metrics=enum_values(metric, Metric, "metric"),
        owner=owner,
        parent_id=parent,
    )
    goals = definitions.list_goals(session, filters, after_id=decode_cursor(cursor), limit=size + 1)
    next_cursor = encode_cursor(goals[size - 1].id) if len(goals) > size else None
    goals = goals[:size]
    rollups = (
        compute_rollups(session, [g.id for g in goals], now=services.clock())
        if "rollup" in extras
        else {}
    )
    data = [
        GoalOut.of(
            g,
            rollup=(
                RollupOut.model_validate(rollups[g.id], from_attributes=True)
                if g.id in rollups
                else None
            ),
        )
        for g in goals
    ]
    if wants_csv(request, format_):
        columns = CSV_GOAL_COLUMNS + (CSV_ROLLUP_COLUMNS if rollups else ())
        return csv_response(
            [csv_row(g) for g in data], columns, next_cursor=next_cursor, name="goals"
        )
    return GoalPage(data=data, next_cursor=next_cursor)


@router.post(
    "/snapshots",
    response_model=SnapshotsOut,
    dependencies=WRITE,
    summary="Snapshot every active goal for today now (the worker does it daily)",
)
def snapshot_goals(session: SessionDep, services: ServicesDep) -> SnapshotsOut:
    now = services.clock()
    taken = take_snapshots(session, now=now)
    session.commit()
    return SnapshotsOut(day=now.date(), taken=taken)


@router.get("/{goal_id}", response_model=GoalOut, dependencies=READ, summary="One goal")
async def get_goal(
    goal_id: IdPath,
    services: ServicesDep,
    include: Annotated[list[str] | None, Query(description="rollup")] = None,
) -> GoalOut:
    with_rollup = "rollup" in _includes(include)

    def view(session: Session) -> GoalOut:
        goal = definitions.load_goal(session, goal_id)
        rollup = None
        if with_rollup:
            computed = compute_rollup(session, goal_id, now=services.clock())
            rollup = RollupOut.model_validate(computed, from_attributes=True)
        return GoalOut.of(goal, rollup=rollup)

    return await in_session(services, view)


@router.patch("/{goal_id}", response_model=GoalOut, dependencies=WRITE, summary="Change a goal")
def update_goal(
    goal_id: IdPath, body: GoalPatch, session: SessionDep, services: ServicesDep
) -> GoalOut:
    goal = definitions.update_goal(
        session, goal_id, body.changes(), body.drafts(), now=services.clock()
    )
    session.commit()
    return _written(session, goal, services)


@router.delete("/{goal_id}", status_code=204, dependencies=WRITE, summary="Delete a goal")
def delete_goal(goal_id: IdPath, session: SessionDep) -> Response:
    definitions.delete_goal(session, goal_id)
    session.commit()
    return Response(status_code=204)


@router.post(
    "/{goal_id}/measurements",
    response_model=MeasurementOut,
    status_code=201,
    dependencies=WRITE,
    summary="Record a value of a numeric goal",
)
def add_measurement(
    goal_id: IdPath, body: MeasurementIn, session: SessionDep, services: ServicesDep
) -> MeasurementOut:
    row = definitions.record_measurement(
        session,
        goal_id,
        value=body.value,
        measured_at=body.measured_at,
        source=body.source,
        note=body.note,
        now=services.clock(),
    )
    session.commit()
    return MeasurementOut.model_validate(row)


@router.get(
    "/{goal_id}/measurements",
    response_model=list[MeasurementOut],
    dependencies=READ,
    summary="A numeric goal's latest measurements, oldest first",
)
def list_measurements(
    goal_id: IdPath,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MeasurementOut]:
    rows = definitions.measurements(session, goal_id, limit=limit)
    return [MeasurementOut.model_validate(r) for r in rows]


@router.get(
    "/{goal_id}/smart",
    response_model=SmartOut,
    dependencies=READ,
    summary="Is the goal SMART? A verdict and actionable reasons per letter",
)
def get_smart(goal_id: IdPath, session: SessionDep, services: ServicesDep) -> SmartOut:
    report = smart_report(session, goal_id, now=services.clock())
    return SmartOut.model_validate(report, from_attributes=True)


@router.get(
    "/{goal_id}/rollup",
    response_model=RollupOut,
    dependencies=READ,
    summary="Where the goal stands, against plan, with provenance; as_of: as reported then",
)
async def get_rollup(
    goal_id: IdPath,
    services: ServicesDep,
    as_of: Annotated[
        date | None, Query(description="the snapshot of this day (or the latest before it)")
    ] = None,
) -> RollupOut:
    def view(session: Session) -> RollupOut:
        if as_of is not None:
            return RollupOut.model_validate(rollup_as_of(session, goal_id, as_of))
        computed = compute_rollup(session, goal_id, now=services.clock())
        return RollupOut.model_validate(computed, from_attributes=True)

    return await in_session(services, view)


@router.get(
    "/{goal_id}/forecast",
    response_model=ForecastOut,
    dependencies=READ,
    summary="Monte Carlo completion dates (p50, p85) and the pace needed",
)
def get_forecast(
    goal_id: IdPath,
    session: SessionDep,
    services: ServicesDep,
    window_days: WindowDays = 28,
    trials: Trials = 2000,
    seed: Seed = 0,
) -> ForecastOut:
    settings = ForecastSettings(window_days=window_days, trials=trials, seed=seed)
    result = forecast_goal(session, goal_id, now=services.clock(), settings=settings)
    return ForecastOut.model_validate(result, from_attributes=True)


@router.get(
    "/{goal_id}/history",
    response_model=HistoryOut,
    dependencies=READ,
    summary="Burn-up series with a scope line, from daily snapshots",
)
def get_history(
    goal_id: IdPath,
    session: SessionDep,
    services: ServicesDep,
    from_: Annotated[date | None, Query(alias="from", description="default: 90 days back")] = None,
    to: Annotated[date | None, Query(description="default: today")] = None,
) -> HistoryOut:
    burnup = history(session, goal_id, start=from_, end=to, now=services.clock())
    return HistoryOut.model_validate(burnup, from_attributes=True)
