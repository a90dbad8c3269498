"""The SMART check: each letter's verdict, and reasons that say what to do."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from insights.goals.forecast import Forecast, ForecastSettings, forecast_from
from insights.goals.model import GoalDef, GoalStatus, Metric
from insights.goals.rollup import MeasurementRef, Rollup, RollupInputs, build_rollup
from insights.goals.smart_check import SmartReport, check
from sync.store.goals import ItemGroup, ScopeSelector

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
JIRA: dict[str, Any] = {
    "id": 1,
    "name": "sales-jira",
    "tool": "jira",
    "state": "active",
    "last_success_at": NOW - timedelta(hours=1),
}


def goal(**fields: Any) -> GoalDef:
    values: dict[str, Any] = {
        "id": 7,
        "title": "Every EMEA rep works their pipeline in the CRM",
        "metric": Metric.ITEMS_DONE,
        "baseline": 0.0,
        "target": 40.0,
        "status": GoalStatus.ACTIVE,
        "owner": "ana@example.com",
        "description": "All 40 EMEA reps log calls and deals in the CRM, not in spreadsheets.",
        "relevance": "Forecast accuracy depends on one source of pipeline truth.",
        "selectors": (ScopeSelector(connection_id=1),),
        "start_date": date(2026, 10, 1),
        "due_date": date(2026, 12, 31),
    }
    return GoalDef(**(values | fields))


def groups(items: int = 40, done: int = 20, estimated: int = 0) -> list[ItemGroup]:
    return [ItemGroup(1, "jira", 10, None, items, done, 0.0, 0.0, estimated, 0, 0, 0)]


def rollup_of(g: GoalDef, scope: list[ItemGroup] | None = None, **inputs: Any) -> Rollup:
    return build_rollup(
        g,
        RollupInputs(
            groups=groups() if scope is None else scope,
            connections={1: JIRA},
            **inputs,
        ),
        now=NOW,
    )


def forecast_of(g: GoalDef, r: Rollup, per_day: float = 1.0, days: int = 28) -> Forecast:
    return forecast_from(
        g,
        today=TODAY,
        current=r.current,
        target=r.target,
        samples=[per_day] * days,
        window_start=TODAY - timedelta(days=28),
        history_days=days,
        settings=ForecastSettings(),
    )


def report(
    g: GoalDef,
    r: Rollup | None = None,
    f: Forecast | None = None,
    connections: dict[int, dict[str, Any]] | None = None,
) -> SmartReport:
    r = r or rollup_of(g)
    f = f or forecast_of(g, r)
    return check(g, r, f, connections=connections or {1: JIRA}, children=0, now=NOW)


def letter(result: SmartReport, name: str) -> tuple[str, list[str]]:
    found = next(c for c in result.checks if c.letter == name)
    return found.verdict, found.reasons


def test_a_well_formed_goal_passes_every_letter() -> None:
    result = report(goal())
    assert [(c.letter, c.verdict) for c in result.checks] == [
        ("S", "pass"),
        ("M", "pass"),
        ("A", "pass"),
        ("R", "pass"),
        ("T", "pass"),
    ]
    assert result.smart is True
    assert letter(result, "A")[1][0].startswith("85% of simulated runs finish by 2026-12-10")


def test_specific_needs_an_owner_a_description_and_a_scope_with_items() -> None:
    verdict, reasons = letter(report(goal(owner=None, description="CRM")), "S")
    assert verdict == "fail"
    assert reasons[0] == "no owner: set owner to the person accountable"
    assert "the description has 3 characters" in reasons[1]
    empty = goal()
    verdict, reasons = letter(report(empty, rollup_of(empty, [])), "S")
    assert verdict == "fail"
    assert reasons == [
        "the scope matches no live items: check the selectors, or sync the connections they name"
    ]
    verdict, reasons = letter(report(goal(selectors=())), "S")
    assert "no scope: add a selector" in reasons[0]


def test_measurable_needs_sources_that_are_connected_and_fresh() -> None:
    never = {**JIRA, "last_success_at": None}
    verdict, reasons = letter(report(goal(), connections={1: never}), "M")
    assert verdict == "fail"
    assert reasons == ["connection sales-jira (jira) has never synced: trigger a sync in /admin"]
    stale = {**JIRA, "last_success_at": NOW - timedelta(hours=30)}
    verdict, reasons = letter(report(goal(), connections={1: stale}), "M")
    assert verdict == "warn"
    assert "last synced 30 hours ago" in reasons[0]
    failing = {**JIRA, "state": "needs_reauth"}
    assert letter(report(goal(), connections={1: failing}), "M")[0] == "fail"


def test_measurable_points_need_estimates() -> None:
    points = goal(metric=Metric.POINTS_DONE, target=100.0)
    none = rollup_of(points, groups(estimated=0))
    verdict, reasons = letter(report(points, none), "M")
    assert verdict == "fail"
    assert "none of the 40 items carries an estimate" in reasons[0]
    some = rollup_of(points, groups(estimated=30))
    verdict, reasons = letter(report(points, some), "M")
    assert verdict == "warn"
    assert reasons == ["10 of 40 items carry no estimate and count zero points: estimate them"]


def test_measurable_numeric_goals_need_measurements() -> None:
    numeric = goal(metric=Metric.NUMERIC, target=500.0, selectors=())
    verdict, reasons = letter(report(numeric, rollup_of(numeric, [])), "M")
    assert verdict == "warn"
    assert "POST /v1/goals/7/measurements" in reasons[0]
    measured = MeasurementRef(120.0, NOW - timedelta(days=1), "crm")
    fresh = rollup_of(numeric, [], measurement=measured)
    assert letter(report(numeric, fresh), "M")[0] == "pass"
    assert letter(report(numeric, fresh), "S")[0] == "pass"  # a number needs no item scope


def test_achievable_by_the_forecast_warns_when_only_the_optimistic_date_makes_it() -> None:
    g = goal(due_date=TODAY + timedelta(days=20))
    r = rollup_of(g)
    # 20 left. Lumpy pace averaging 1/day: p50 about 20 days, p85 later.
    lumpy = forecast_from(
        g,
        today=TODAY,
        current=r.current,
        target=r.target,
        samples=[0.0, 0.0, 2.0, 0.0, 3.0, 1.0, 1.0] * 4,
        window_start=TODAY - timedelta(days=28),
        history_days=28,
        settings=ForecastSettings(),
    )
    assert lumpy.p50_date is not None
    assert lumpy.p85_date is not None
    assert lumpy.p50_date <= TODAY + timedelta(days=20) < lumpy.p85_date
    verdict, reasons = letter(report(g, r, lumpy), "A")
    assert verdict == "warn"
    assert reasons[0].startswith("only the optimistic forecast (p50")
    slow = forecast_of(g, r, per_day=0.5)
    verdict, reasons = letter(report(g, r, slow), "A")
    assert verdict == "fail"
    assert "needs 7.0/week, recent pace 3.5/week" in reasons[0]


def test_achievable_cannot_be_judged_on_thin_history_and_fails_when_stalled() -> None:
    g = goal()
    r = rollup_of(g)
    assert letter(report(g, r, forecast_of(g, r, days=3)), "A")[0] == "warn"
    verdict, reasons = letter(report(g, r, forecast_of(g, r, per_day=0.0)), "A")
    assert verdict == "fail"
    assert reasons[0].endswith("add capacity, cut scope or move the due date")


def test_relevant_needs_a_parent_or_a_statement() -> None:
    verdict, reasons = letter(report(goal(relevance=None)), "R")
    assert verdict == "fail"
    assert "parent_id" in reasons[0]
    assert letter(report(goal(relevance=None, parent_id=3)), "R") == (
        "pass",
        ["rolls up into goal 3"],
    )


def test_time_bound_needs_dates_in_order_and_not_passed_while_active() -> None:
    assert letter(report(goal(due_date=None)), "T") == ("fail", ["no due date: set due_date"])
    same_day = goal(start_date=date(2026, 12, 1), due_date=date(2026, 12, 1))
    assert letter(report(same_day), "T")[0] == "fail"
    late = goal(due_date=TODAY - timedelta(days=4))
    verdict, reasons = letter(report(late), "T")
    assert verdict == "fail"
    assert reasons == [
        "the due date 2026-11-16 passed 4 days ago: set a new date or mark the goal missed"
    ]
    assert (
        letter(report(goal(due_date=TODAY - timedelta(days=4), status=GoalStatus.MISSED)), "T")[0]
        == "pass"
    )


def test_one_failing_letter_makes_a_goal_not_smart_but_warnings_do_not() -> None:
    assert report(goal(owner=None)).smart is False
    stale = {**JIRA, "last_success_at": NOW - timedelta(hours=30)}
    result = report(goal(), connections={1: stale})
    assert (result.smart, result.verdict) == (True, "warn")
